package wire

import "testing"

func TestRefusesForm(t *testing.T) {
	for code, want := range map[string]bool{
		"42P18": true,  // could not determine data type of parameter
		"42601": true,  // syntax error: a parameter where a constant must be
		"22P02": true,  // invalid input syntax: the query as sent says it better
		"0A000": true,  // cached plan must not change result type
		"26000": true,  // prepared statement does not exist
		"57014": false, // canceled: the client's answer either way
		"53200": false, // out of memory
		"40001": false,
		"XX000": false,
	} {
		if got := refusesForm(code); got != want {
			t.Errorf("refusesForm(%s) = %v", code, got)
		}
	}
}
