package admin

import (
	"runtime"
	"runtime/debug"
)

// Version is pgshard's version as its build recorded it: the module
// version (a tag when installed with go install, "(devel)" from a
// checkout), the commit when the build stamped one, and the Go release.
// `pgshard version`, /status and the console's SHOW VERSION print it, so
// that during a rolling upgrade each process says which build it is.
func Version() string {
	v := "(unknown)"
	info, ok := debug.ReadBuildInfo()
	if ok && info.Main.Version != "" {
		v = info.Main.Version
	}
	if ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v + ", " + runtime.Version()
}
