package wire

// pendingResp is one response the session expects from the server (or must
// make up itself) for a message of the current batch, in protocol order.
// Because pgshard virtualises prepared statements, some client messages are
// answered by pgshard (synthetic), and some server responses answer messages
// the client never sent (hidden). Keeping both in one queue keeps the order
// the client sees identical to what one Postgres would send.
type pendingResp struct {
	kind   byte   // the client message type this answers: 'P','B','D','E','C'
	action action // what to do with the response
	synth  byte   // for actSynthetic: the message type to send ('1' or '3')
	server string // for a hidden named Parse: server statement to mark prepared
	err    *pgError
	// fallback: an error answering this message means the server refused
	// pgshard's server form of a simple query (serverform.go), which then
	// runs as sent; the client never sees that error.
	fallback bool
}

type action uint8

const (
	actRelay          action = iota // pass the server's response to the client
	actHidden                       // swallow the server's response (pgshard's own message)
	actSynthetic                    // no server message: send synth to the client in its turn
	actInjected                     // swallow the server's error and send err instead
	actRowDescription               // pass a RowDescription, swallow NoData (a simple query's answer has none)
)

// completes reports whether a server message of type typ is the last
// response to a message of kind k.
func completes(k, typ byte) bool {
	switch k {
	case 'P':
		return typ == '1'
	case 'B':
		return typ == '2'
	case 'C':
		return typ == '3'
	case 'D':
		return typ == 'T' || typ == 'n'
	case 'E':
		return typ == 'C' || typ == 'I' || typ == 's'
	}
	return false
}
