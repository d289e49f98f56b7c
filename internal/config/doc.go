// Package config owns pgshard's configuration file: format, defaults,
// validation.
//
// The file is YAML (see docs/configuration.md). [Load] and [Parse] decode it
// strictly (an unknown key is an error), fill in defaults for keys that are
// absent, and validate the result. Every problem is reported as an [*Error]
// naming the file, the line and the key, and all problems are returned at
// once, in line order, so one run of `pgshard check` shows everything to fix.
package config
