package wire

import (
	"fmt"

	"github.com/pgshard/pgshard/router"
)

// The server reports every change of client_encoding and
// standard_conforming_strings with a ParameterStatus. pgshard refuses the
// SETs, set_config calls and start-up options that would make them
// unreadable for it (router.Schema.SettingRefusal), but a change can also
// come from where it cannot look: set_config with a Bind parameter, a
// function that sets them, RESET back to a role's or database's default.
// From then on the client writes string literals or text keys in a form
// pgshard would hash differently from the server, so the session ends at
// its next statement, with the reason, rather than route keys wrongly.

// noteParameterStatus records a server-reported parameter value that
// pgshard cannot route with; a later report of a readable value clears it.
func (s *session) noteParameterStatus(body []byte) {
	name, rest, ok := cutCString(body)
	if !ok {
		return
	}
	value, _, ok := cutCString(rest)
	if !ok {
		return
	}
	switch name {
	case "client_encoding", "standard_conforming_strings":
	default:
		return
	}
	if e := s.db.router.Schema().SettingRefusal(name, value); e != nil {
		s.unreadable = &unreadableSetting{name: name, value: value, refusal: e}
	} else if s.unreadable != nil && s.unreadable.name == name {
		s.unreadable = nil
	}
}

// tell records the value a ParameterStatus body reports as the one the
// client knows, and says whether that is news to it.
func (s *session) tell(body []byte) bool {
	name, rest, ok := cutCString(body)
	if !ok {
		return true
	}
	value, _, _ := cutCString(rest)
	if old, known := s.told[name]; known && old == value {
		return false
	}
	if s.told == nil {
		s.told = map[string]string{}
	}
	s.told[name] = value
	return true
}

// unreadableSetting is a parameter value the server reported that pgshard
// cannot route with.
type unreadableSetting struct {
	name, value string
	refusal     *router.Error
}

// fatal is the error that ends the session for it.
func (u *unreadableSetting) fatal() *pgError {
	return &pgError{Severity: "FATAL", Code: u.refusal.Code,
		Message: fmt.Sprintf("pgshard: the server reports %s = %s, set where pgshard could not check it (set_config with a parameter, a function, a role or database default); %s",
			u.name, u.value, u.refusal.Message),
		Hint: u.refusal.Hint}
}
