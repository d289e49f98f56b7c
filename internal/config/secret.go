package config

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a password: it never prints.
//
// Every way Go code commonly turns a value into text is covered, because a
// Secret usually travels inside a User or Database that gets logged whole:
// fmt with any verb (String, GoString, Format), log/slog (LogValue, and
// MarshalText for the JSON handler, which encodes nested structs with
// encoding/json), and encoding/json or YAML marshalling (MarshalText).
type Secret string

const redacted = "<redacted>"

func (Secret) String() string { return redacted }

// GoString is what %#v prints (through Format), instead of the quoted value.
func (Secret) GoString() string { return `config.Secret("` + redacted + `")` }

// Format covers the verbs String does not: fmt skips Stringer for a verb
// that does not suit a string (%d) and then prints the raw value in its
// "%!d(config.Secret=...)" complaint.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), redacted)
}

// LogValue makes slog print the placeholder for a Secret passed as an attribute.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText makes encoding/json, YAML and slog's JSON handler write the
// placeholder, or nothing for an empty secret, so that a dump of the
// configuration (GET /config) tells a password set from none. There is
// deliberately no UnmarshalText: decoding stays the plain string decoding
// of the underlying type.
func (s Secret) MarshalText() ([]byte, error) {
	if s == "" {
		return []byte{}, nil
	}
	return []byte(redacted), nil
}

// Reveal returns the secret itself, for authentication only.
func (s Secret) Reveal() string { return string(s) }
