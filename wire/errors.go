package wire

import (
	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes pgshard answers with itself.
const (
	codeProtocolViolation       = "08P01"
	codeIndeterminateDatatype   = "42P18"
	codeConnectionFailure       = "08006"
	codeCannotConnect           = "08001"
	codeInvalidPassword         = "28P01"
	codeInvalidAuthorization    = "28000"
	codeInvalidCatalogName      = "3D000"
	codeFeatureNotSupported     = "0A000"
	codeTooManyConnections      = "53300"
	codeAdminShutdown           = "57P01"
	codeQueryCanceled           = "57014"
	codeProgramLimitExceeded    = "54000"
	codeInvalidSQLStatementName = "26000"
	codeInvalidCursorName       = "34000"
	codeDuplicatePreparedStmt   = "42P05"
	codeInternalError           = "XX000"
)

// pgError is an error pgshard reports to the client as an ErrorResponse.
type pgError struct {
	Severity string // ERROR or FATAL
	Code     string
	Message  string
	Detail   string
	Hint     string
	Position int // in the client's query string, from 1; 0 for none
	// sessionState: a refusal, in transaction pooling, of a statement
	// that leaves state in the server session, which pool.session_state:
	// pin runs instead (pin.go). Not sent.
	sessionState bool
	// unverifiable: that state is one pgshard cannot read back from the
	// server (a setting set_config changed), so a session it pinned
	// stays pinned (pin.go).
	unverifiable bool
}

func (e *pgError) Error() string { return e.Code + ": " + e.Message }

func (e *pgError) response() *pgproto3.ErrorResponse {
	sev := e.Severity
	if sev == "" {
		sev = "ERROR"
	}
	return &pgproto3.ErrorResponse{
		Severity: sev, SeverityUnlocalized: sev, Code: e.Code,
		Message: e.Message, Detail: e.Detail, Hint: e.Hint, Position: int32(e.Position),
	}
}

func errorf(code, msg string) *pgError { return &pgError{Code: code, Message: msg} }

func fatalf(code, msg string) *pgError { return &pgError{Severity: "FATAL", Code: code, Message: msg} }
