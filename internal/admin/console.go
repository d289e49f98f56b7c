package admin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ConsoleDatabase is the database name the admin console answers to, as
// PgBouncer's console answers to "pgbouncer".
const ConsoleDatabase = "pgshard"

// ConsoleSession is a client logged in to the admin console (wire's
// ServeConsole did the start-up and authentication).
type ConsoleSession struct {
	// Backend reads the client's messages and writes the answers; the
	// login has sent ReadyForQuery.
	Backend *pgproto3.Backend
	// User is the name the client logged in as; Remote its address.
	User, Remote string
}

// ConsolePauseWait is how long PAUSE waits for the transactions open in
// the databases it pauses to end before it answers, as PgBouncer's PAUSE
// waits for its server connections to be released.
const ConsolePauseWait = 30 * time.Second

// Console answers an admin console session's queries until the client
// leaves or ctx ends: SHOW commands over what /status and /clients
// report, and RELOAD, PAUSE, RESUME and TERMINATE as the POST endpoints.
// Only the simple query protocol is served (psql's); the console keeps no
// state between queries.
func (s *Server) Console(ctx context.Context, cs *ConsoleSession) {
	be := cs.Backend
	skipping := false // an extended-protocol message was refused: wait for Sync
	for {
		msg, err := be.Receive()
		if err != nil {
			var tooLong *pgproto3.ExceededMaxBodyLenErr
			if errors.As(err, &tooLong) {
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "54000",
					Message: fmt.Sprintf("pgshard console: a message of %d bytes is over the console's limit of %d", tooLong.ActualBodyLen, tooLong.MaxExpectedBodyLen),
					Hint:    "Console commands are short; SHOW HELP lists them."})
				_ = be.Flush()
			}
			return
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			s.consoleQuery(ctx, cs, m.String)
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Terminate:
			return
		case *pgproto3.Sync:
			skipping = false
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Parse, *pgproto3.Bind, *pgproto3.Describe, *pgproto3.Execute, *pgproto3.Close, *pgproto3.Flush:
			if !skipping {
				skipping = true
				be.Send(consoleError("0A000", "the admin console takes simple queries only",
					"psql uses the simple protocol; other drivers have a setting for it (pgx: QueryExecModeSimpleProtocol, JDBC: preferQueryMode=simple)."))
			}
			if _, ok := m.(*pgproto3.Flush); !ok {
				continue
			}
		default:
			be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08P01",
				Message: fmt.Sprintf("unexpected message %T on the admin console", msg)})
			_ = be.Flush()
			return
		}
		if err := be.Flush(); err != nil {
			return
		}
	}
}

// consoleQuery runs each command of a query in turn, as PostgreSQL runs
// a simple query's statements: the first error ends it.
func (s *Server) consoleQuery(ctx context.Context, cs *ConsoleSession, q string) {
	ran := false
	for _, text := range strings.Split(q, ";") {
		words := consoleWords(text)
		if len(words) == 0 {
			continue
		}
		ran = true
		res, err := s.consoleCommand(ctx, cs, words)
		if err != nil {
			var ce *commandError
			if !errors.As(err, &ce) {
				ce = &commandError{code: "XX000", msg: err.Error()}
			}
			cs.Backend.Send(consoleError(ce.code, ce.msg, ce.hint))
			return
		}
		for _, n := range res.notices {
			cs.Backend.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: n})
		}
		if res.table != nil {
			res.table.send(cs.Backend)
		}
		cs.Backend.Send(&pgproto3.CommandComplete{CommandTag: []byte(res.tag)})
	}
	if !ran {
		cs.Backend.Send(&pgproto3.EmptyQueryResponse{})
	}
}

// consoleWords splits a command into its words, keeping a double-quoted
// name (a database called "Sales") as one word without its quotes and
// folding the others to lower case, as SQL folds identifiers.
func consoleWords(text string) []string {
	var words []string
	for text = strings.TrimSpace(text); text != ""; text = strings.TrimSpace(text) {
		if text[0] == '"' {
			end := strings.IndexByte(text[1:], '"')
			if end < 0 {
				words = append(words, text[1:])
				break
			}
			words = append(words, text[1:1+end])
			text = text[end+2:]
			continue
		}
		end := strings.IndexAny(text, " \t\r\n,")
		if end < 0 {
			end = len(text)
		}
		if w := strings.ToLower(text[:end]); w != "" {
			words = append(words, w)
		}
		text = strings.TrimPrefix(text[end:], ",")
	}
	return words
}

// consoleResult is what a command answers: rows (or none), the command
// tag, and notices to send first.
type consoleResult struct {
	table   *table
	tag     string
	notices []string
}

// commandError is a command's ErrorResponse.
type commandError struct{ code, msg, hint string }

func (e *commandError) Error() string { return e.code + ": " + e.msg }

func consoleError(code, msg, hint string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg, Hint: hint}
}

// consoleHelp lists the commands, as SHOW HELP prints them.
var consoleHelp = [][2]string{
	{"SHOW HELP", "this list"},
	{"SHOW STATUS", "whether pgshard is ready for traffic, and why not"},
	{"SHOW DATABASES", "the databases, their shards and nodes, and pauses"},
	{"SHOW NODES", "every node: role, state, replication lag"},
	{"SHOW POOLS", "every server connection pool: connections open, idle, in use, clients waiting"},
	{"SHOW CLIENTS", "the client sessions: user, database, address, state, server connections held"},
	{"SHOW SERVERS", "the pools' server connections, in use (by which client) or idle, with their backend pids"},
	{"SHOW STATS", "per database since start: statements by where they ran, and their time (as /metrics counts them)"},
	{"SHOW PEERS", "this pgshard's peer id and the group's members"},
	{"SHOW WARNINGS", "what the catalog checks found wrong in the shards' schemas"},
	{"SHOW VERSION", "this pgshard's build: version, commit, Go release"},
	{"SHOW CONFIG", "the configuration in force, a setting per row, defaults filled in and secrets redacted"},
	{"RELOAD", "read the configuration file again and apply it, as SIGHUP"},
	{"PAUSE [db, ...]", "hold new transactions back (every database without a name); waits up to 30s for open ones"},
	{"RESUME [db, ...]", "let held transactions go"},
	{"TERMINATE pid", "end the client session with that process ID (SHOW CLIENTS)"},
}

func (s *Server) consoleCommand(ctx context.Context, cs *ConsoleSession, w []string) (consoleResult, error) {
	switch {
	case w[0] == "show" && len(w) == 2:
		return s.consoleShow(w[1])
	case w[0] == "reload" && len(w) == 1:
		return s.consoleReload(cs)
	case w[0] == "pause":
		return s.consolePause(ctx, cs, w[1:])
	case w[0] == "resume":
		return s.consoleResume(cs, w[1:])
	case w[0] == "terminate" && len(w) == 2:
		return s.consoleTerminate(cs, w[1])
	}
	return consoleResult{}, &commandError{code: "42601",
		msg:  fmt.Sprintf("pgshard console: unknown command %q", strings.Join(w, " ")),
		hint: "SHOW HELP lists the commands."}
}

// unavailable is the error of a command whose source this pgshard did not
// set up (tests build consoles with a part of them).
func unavailable(what string) error {
	return &commandError{code: "55000", msg: "pgshard console: " + what + " is not available here"}
}

func (s *Server) consoleShow(what string) (consoleResult, error) {
	var t *table
	switch what {
	case "help":
		t = newTable(col("command", oidText), col("description", oidText))
		for _, h := range consoleHelp {
			t.add(h[0], h[1])
		}
	case "status", "databases", "nodes", "pools", "peers", "warnings":
		if s.status == nil {
			return consoleResult{}, unavailable("the status")
		}
		t = statusTable(what, s.status.Status())
	case "stats":
		if s.reg == nil {
			return consoleResult{}, unavailable("SHOW STATS")
		}
		families, err := s.reg.Gatherer().Gather()
		if err != nil {
			return consoleResult{}, &commandError{code: "XX000", msg: "pgshard console: reading the metrics: " + err.Error()}
		}
		t = statsTable(families)
	case "version":
		t = newTable(col("version", oidText))
		t.add("pgshard " + Version())
	case "config":
		if s.config == nil {
			return consoleResult{}, unavailable("SHOW CONFIG")
		}
		var err error
		if t, err = configTable(s.config()); err != nil {
			return consoleResult{}, &commandError{code: "XX000", msg: "pgshard console: " + err.Error()}
		}
	case "clients":
		if s.clients == nil {
			return consoleResult{}, unavailable("the client list")
		}
		t = clientsTable(s.clients())
	case "servers":
		if s.servers == nil {
			return consoleResult{}, unavailable("the server list")
		}
		t = serversTable(s.servers())
	default:
		return consoleResult{}, &commandError{code: "42601",
			msg:  fmt.Sprintf("pgshard console: SHOW %s is not a console command", strings.ToUpper(what)),
			hint: "SHOW HELP lists the commands."}
	}
	return consoleResult{table: t, tag: "SHOW"}, nil
}

func (s *Server) consoleReload(cs *ConsoleSession) (consoleResult, error) {
	if s.reload == nil {
		return consoleResult{}, unavailable("RELOAD")
	}
	changed, err := s.reload()
	s.log.Info("configuration reload through the admin console", "user", cs.User, "remote", cs.Remote, "changed", len(changed), "err", err)
	if err != nil {
		return consoleResult{}, &commandError{code: "55000", msg: "pgshard: the configuration was not reloaded: " + err.Error(),
			hint: "The configuration in force is unchanged; fix the file (pgshard check --config FILE) or restart pgshard for settings a reload cannot change."}
	}
	res := consoleResult{tag: "RELOAD"}
	if len(changed) == 0 {
		res.notices = []string{"the configuration file is unchanged"}
	} else {
		res.notices = []string{"changed: " + strings.Join(changed, ", ")}
	}
	return res, nil
}

func (s *Server) consolePause(ctx context.Context, cs *ConsoleSession, names []string) (consoleResult, error) {
	if s.pauser == nil {
		return consoleResult{}, unavailable("PAUSE")
	}
	dbs, err := s.pauser.Pause(ctx, names, ConsolePauseWait, DefaultPauseMax)
	if err != nil {
		return consoleResult{}, &commandError{code: "3D000", msg: "pgshard: " + err.Error()}
	}
	s.log.Info("databases paused through the admin console", "user", cs.User, "remote", cs.Remote, "databases", len(dbs))
	t := newTable(col("database", oidText), col("open_transactions", oidInt8), col("until", oidTimestamptz))
	res := consoleResult{table: t, tag: "PAUSE"}
	for _, d := range dbs {
		t.add(d.Name, strconv.Itoa(d.OpenTransactions), timestamp(d.Until))
		if d.OpenTransactions > 0 {
			res.notices = append(res.notices, fmt.Sprintf("database %q still has %d open transactions after %s; they run on, new ones wait", d.Name, d.OpenTransactions, ConsolePauseWait))
		}
	}
	return res, nil
}

func (s *Server) consoleResume(cs *ConsoleSession, names []string) (consoleResult, error) {
	if s.pauser == nil {
		return consoleResult{}, unavailable("RESUME")
	}
	resumed, err := s.pauser.Resume(names)
	if err != nil {
		return consoleResult{}, &commandError{code: "3D000", msg: "pgshard: " + err.Error()}
	}
	s.log.Info("databases resumed through the admin console", "user", cs.User, "remote", cs.Remote, "databases", len(resumed))
	res := consoleResult{tag: "RESUME"}
	if len(resumed) == 0 {
		res.notices = []string{"no database was paused"}
	} else {
		res.notices = []string{"resumed: " + strings.Join(resumed, ", ")}
	}
	return res, nil
}

func (s *Server) consoleTerminate(cs *ConsoleSession, arg string) (consoleResult, error) {
	if s.terminate == nil {
		return consoleResult{}, unavailable("TERMINATE")
	}
	pid, err := strconv.ParseUint(arg, 10, 32)
	if err != nil {
		return consoleResult{}, &commandError{code: "22P02", msg: fmt.Sprintf("pgshard console: %q is not a process ID", arg), hint: "SHOW CLIENTS lists the sessions' process IDs."}
	}
	if err := s.terminate(uint32(pid)); err != nil {
		return consoleResult{}, &commandError{code: "42704", msg: "pgshard: " + err.Error(), hint: "SHOW CLIENTS lists the sessions' process IDs."}
	}
	s.log.Info("client session terminated through the admin console", "user", cs.User, "remote", cs.Remote, "pid", pid)
	return consoleResult{tag: "TERMINATE"}, nil
}
