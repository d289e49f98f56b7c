package wire

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
)

// In transaction mode a client's session settings (its startup parameters
// and SET statements) must follow it from server connection to server
// connection. Each server connection records the fingerprint of the settings
// it carries; when a client attaches to one with another fingerprint, pgshard
// replays the client's settings after RESET ALL in one hidden round trip. A
// pool of clients with the same settings converges and pays nothing.

// sessionSettings is a client's carried settings, in the order they were
// made, one entry per parameter.
type sessionSettings struct {
	startup []setting
	set     []setting
	staged  []settingChange // made inside the open transaction
	fp      string          // cached fingerprint; recomputed on change
}

type setting struct {
	name string // lower case; "" for a statement kept whole
	stmt string
}

type settingChange struct {
	reset bool // RESET name, or RESET ALL when name is "*"
	setting
}

var gucName = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)

// notCarried are startup parameters that are not settings.
var notCarried = map[string]bool{"user": true, "database": true, "replication": true, "options": true}

func newSessionSettings(params map[string]string) sessionSettings {
	var ss sessionSettings
	add := func(name, value string) {
		name = strings.ToLower(name)
		if notCarried[name] || !gucName.MatchString(name) {
			return
		}
		ss.startup = append(ss.startup, setting{name: name, stmt: fmt.Sprintf("SET %s = %s", name, quoteLiteral(value))})
	}
	for name, value := range params {
		add(name, value)
	}
	for name, value := range parseOptions(params["options"]) {
		add(name, value)
	}
	// Map order is random: sort so equal parameters give equal fingerprints.
	sortSettings(ss.startup)
	ss.fp = ss.fingerprint()
	return ss
}

func sortSettings(s []setting) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].name < s[j-1].name; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// parseOptions reads "-c name=value" and "--name=value" from the startup
// options parameter (backslash escapes a space).
func parseOptions(opts string) map[string]string {
	out := map[string]string{}
	var words []string
	var cur strings.Builder
	esc := false
	for _, r := range opts {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == ' ' || r == '\t':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-c" && i+1 < len(words):
			i++
			w = words[i]
		case strings.HasPrefix(w, "-c"):
			w = w[2:]
		case strings.HasPrefix(w, "--"):
			w = w[2:]
		default:
			continue
		}
		if name, value, ok := strings.Cut(w, "="); ok {
			out[strings.ReplaceAll(name, "-", "_")] = value
		}
	}
	return out
}

func (ss *sessionSettings) fingerprint() string {
	if len(ss.startup) == 0 && len(ss.set) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range ss.startup {
		b.WriteString(s.stmt)
		b.WriteString(";\n")
	}
	for _, s := range ss.set {
		b.WriteString(s.stmt)
		b.WriteString(";\n")
	}
	return b.String()
}

func (ss *sessionSettings) apply(c settingChange) {
	switch {
	case c.reset && c.name == "*":
		ss.set = nil
	case c.reset:
		ss.set = removeSetting(ss.set, c.name)
	default:
		ss.set = append(removeSetting(ss.set, c.name), c.setting)
	}
	ss.fp = ss.fingerprint()
}

func removeSetting(list []setting, name string) []setting {
	out := list[:0]
	for _, s := range list {
		if s.name != name {
			out = append(out, s)
		}
	}
	return out
}

// applySettings makes sc carry the client's settings.
func (s *session) applySettings(sc *serverConn) error {
	fp := s.settings.fp
	if sc.settings == fp {
		return nil
	}
	script := "RESET ALL;\n" + fp
	if err := s.hiddenQuery(sc, script, 1); err != nil {
		return fmt.Errorf("pgshard: re-applying session settings on %s: %w", sc.pool.name(), err)
	}
	sc.settings = fp
	return nil
}

// observe updates the client's settings after a simple query, keeping SETs
// made inside a transaction until it ends: kept on commit, dropped on
// rollback, as the server does.
func (s *session) observe(sc *serverConn, stmts []string) {
	// A batch's SETs joined txSets when they were executed (execute).
	s.observeEach(sc, len(stmts), func(i int) string { return stmts[i] },
		func(i int) bool { return router.MentionsSessionEffects(stmts[i]) }, false)
}

// observeRouted is observe for a simple query's routed statements, without
// building a slice of their texts on every query.
func (s *session) observeRouted(sc *serverConn, routed []router.Statement) {
	n := len(routed)
	if allPlain(routed) {
		n = 0 // none is a SET, DISCARD, LISTEN, savepoint or BEGIN
	}
	s.observeEach(sc, n, func(i int) string { return routed[i].Text },
		func(i int) bool { return routed[i].Route.Plan != nil && routed[i].Route.Plan.SessionEffects }, true)
	for i := range routed {
		if p := routed[i].Route.Plan; p != nil && p.Notifies && !s.sawError {
			s.noteNotify(sc)
		}
	}
}

// noteNotify records that the open transaction sent a notification on
// sc's shard (see txNotified).
func (s *session) noteNotify(sc *serverConn) {
	if id := s.shardOf(sc); s.txStatus == 'T' && !slices.Contains(s.txNotified, id) {
		s.txNotified = append(s.txNotified, id)
	}
}

// observeEach is observe's work; recordTx adds the SETs run inside a
// transaction to txSets.
func (s *session) observeEach(sc *serverConn, n int, stmt func(int) string, effects func(int) bool, recordTx bool) {
	if s.sawError {
		if s.txStatus == 'I' {
			s.settings.staged = nil // the implicit or explicit transaction rolled back
		}
		return
	}
	purge := false
	var discards []string
	for i := range n {
		st := stmt(i)
		// Compared in place: most statements are neither, and lower-cased
		// copies are made only for the SETs that are recorded.
		words := sqltext.FirstWords(st)
		switch {
		case words.Is(0, "set"), words.Is(0, "reset"):
			if c, ok := settingChangeOf(st, sqltext.LeadingWords(st, 3)); ok {
				s.settings.staged = append(s.settings.staged, c)
			}
			if recordTx && s.txStatus == 'T' {
				s.noteTxSet(st)
			}
		case words.Is(0, "discard"):
			discards = append(discards, st)
			if words.Is(1, "all") {
				s.settings.staged = append(s.settings.staged, settingChange{reset: true, setting: setting{name: "*"}})
				purge = true
				s.listening = false
				s.hubUnlisten("") // DISCARD ALL includes UNLISTEN *
			}
		case words.Is(0, "notify"):
			s.noteNotify(sc)
		case savepointTag(words) != "":
			if recordTx && s.txStatus == 'T' {
				s.noteTxSet(st) // replayed in order with the SETs
			}
			if s.txStatus == 'T' {
				s.trackSavepoint(st, savepointTag(words))
			}
		case words.Is(0, "begin"), words.Is(0, "start"):
			switch {
			case s.txStatus == 'T' && s.txBegin == "":
				// Sent straight to a server (session pooling): shards the
				// transaction spreads to start it the same way (isolation
				// level, READ ONLY).
				s.txBegin = st
			case s.txStatus == 'T' && recordTx:
				// A BEGIN inside the transaction still sets its options.
				s.noteTxSet(st)
			}
		case words.Is(0, "listen"), words.Is(0, "unlisten"):
			s.trackListen(st)
		case words.Is(0, "deallocate"):
			purge = true
		default:
			if effects(i) {
				s.observeSetConfig(sc, st, recordTx)
			}
		}
	}
	if len(discards) > 0 && s.mode == config.PoolSession {
		s.discardElsewhere(sc, discards)
	}
	if purge {
		// DEALLOCATE ALL and DISCARD ALL drop every prepared statement of the
		// server session, the client's protocol-level ones included.
		sc.prepared.Purge()
		sc.evicted = sc.evicted[:0]
		clear(sc.sqlStmts)
		clear(s.stmts)
		clear(s.sqlStmts)
	}
	if s.txStatus == 'I' {
		s.txSets, s.txBegin = s.txSets[:0], ""
		s.txSavepoints = s.txSavepoints[:0]
		s.txNotified = s.txNotified[:0]
	}
	if s.txStatus != 'I' || len(s.settings.staged) == 0 {
		return // nothing changed, or staged until the transaction ends
	}
	staged := s.settings.staged
	s.settings.staged = nil
	if s.lastTag == "ROLLBACK" {
		return // the server dropped them too
	}
	serverReset := false
	for _, c := range staged {
		s.settings.apply(c)
		serverReset = serverReset || c.reset && c.name == "*"
	}
	if sc.settings != staleSettings {
		sc.settings = s.settings.fp
	}
	if serverReset {
		// RESET ALL also dropped the startup parameters pgshard applied as
		// SETs: the server's state is the defaults plus what followed.
		sc.settings = "\x00after reset all"
	}
	if s.mode == config.PoolSession && sc.settings != s.settings.fp {
		if err := s.applySettings(sc); err != nil {
			sc.broken = true
		}
	}
}

// settingChangeOf interprets SET and RESET statements that change session
// state. SET LOCAL and transaction-level SETs end with the transaction and
// are not carried.
func settingChangeOf(stmt string, words []string) (settingChange, bool) {
	if words[0] == "reset" {
		if len(words) < 2 {
			return settingChange{}, false
		}
		name := words[1]
		if name == "all" {
			name = "*"
		}
		return settingChange{reset: true, setting: setting{name: canonicalGUC(name, words)}}, true
	}
	if len(words) < 2 {
		return settingChange{}, false
	}
	name := words[1]
	switch name {
	case "local", "transaction", "constraints":
		return settingChange{}, false
	case "session":
		if len(words) < 3 {
			return settingChange{}, false
		}
		name = words[2]
	}
	return settingChange{setting: setting{name: canonicalGUC(name, words), stmt: strings.TrimSpace(stmt)}}, true
}

// canonicalGUC maps SET's special forms to the parameter they set.
func canonicalGUC(name string, _ []string) string {
	switch name {
	case "time":
		return "timezone"
	case "schema":
		return "search_path"
	case "names":
		return "client_encoding"
	}
	return name
}

// unsupportedInTransactionMode refuses statements whose effect outlives the
// transaction on the server connection, which another client gets next. It
// runs for every statement in transaction mode, so it reads stmt in place:
// no lower-cased copy, no allocation unless it refuses.
func unsupportedInTransactionMode(stmt string) *pgError {
	words := sqltext.FirstWords(stmt)
	if words.Len() == 0 {
		return nil
	}
	refuse := refuseInTransactionMode
	switch {
	case words.Is(0, "prepare"), words.Is(0, "execute"),
		words.Is(0, "deallocate") && !(words.Is(1, "all") || words.Is(1, "prepare") && words.Is(2, "all")):
		// As a simple query of its own it never gets here (sqlPrepared).
		return &pgError{
			Code:    codeFeatureNotSupported,
			Message: "pgshard: SQL-level " + strings.ToUpper(words.Word(0)) + " is supported in transaction pooling mode only as a simple query of its own",
			Hint:    "Send it alone, not with other statements or through the extended protocol; or use protocol-level prepared statements.",
		}
	case words.Is(0, "set"), words.Is(0, "reset"):
		if words.Is(1, "role") || words.Is(1, "session") && words.Is(2, "authorization") {
			return refuse("changing the role with " + strings.ToUpper(words.Word(0)) + " ROLE / SESSION AUTHORIZATION")
		}
	case words.Is(0, "create"):
		if createsTemp(words) && !sqltext.ContainsFold(stmt, "on commit drop") {
			return refuse("CREATE TEMPORARY TABLE without ON COMMIT DROP")
		}
	}
	if sessionAdvisoryLock(stmt) {
		return refuse("a session-level advisory lock")
	}
	return nil
}

// hiddenEffectRefusal refuses, in transaction mode, a statement whose
// effect on the server session only a parse shows (router.SessionEffectsOf):
// for statements whose plan says they may have one
// (router.Plan.SessionEffects), or whose text does
// (router.MentionsSessionEffects).
func hiddenEffectRefusal(stmt string) *pgError {
	switch e := router.SessionEffectsOf(stmt); {
	case e.Identity:
		return refuseInTransactionMode("changing the role with set_config('role' or 'session_authorization', ..., false)")
	case e.Unknown:
		return &pgError{
			sessionState: true,
			unverifiable: true,
			Code:         codeFeatureNotSupported,
			Message:      "pgshard: set_config(..., false) with arguments pgshard cannot read is not supported in transaction pooling mode",
			Hint:         "pgshard carries SELECT set_config('name', 'value', false) with constant arguments like SET; otherwise use set_config(..., true) inside a transaction, SET, or session pooling (pool_mode: session for the user).",
		}
	case e.TempTable:
		return refuseInTransactionMode("SELECT ... INTO TEMPORARY (a temporary table)")
	}
	return nil
}

// refuseInTransactionMode is the refusal of what cannot be carried from
// one server connection to the next.
func refuseInTransactionMode(what string) *pgError {
	return &pgError{
		sessionState: true,
		Code:         codeFeatureNotSupported,
		Message:      fmt.Sprintf("pgshard: %s is not supported in transaction pooling mode", what),
		Hint:         "Use session pooling for this workload (pool_mode: session for its user, or pool.mode: session), pool.session_state: pin, or a transaction-scoped alternative (SET LOCAL, pg_advisory_xact_lock, protocol-level prepared statements).",
	}
}

// createsTemp says whether a CREATE's words make a temporary object.
func createsTemp(words sqltext.Words) bool {
	return words.Is(0, "create") && (words.Is(1, "temp") || words.Is(1, "temporary") ||
		(words.Is(1, "local") || words.Is(1, "global")) && (words.Is(2, "temp") || words.Is(2, "temporary")))
}

// listenWithOthers refuses, in transaction pooling, a LISTEN sent in one
// query with other statements: pgshard listens for a session only on a
// LISTEN of its own (listen.go).
func listenWithOthers() *pgError {
	pe := refuseInTransactionMode("LISTEN together with other statements in one query")
	pe.Hint = "Send LISTEN as a query of its own: pgshard then listens for the session. Or set pool.session_state: pin."
	return pe
}

// observeSetConfig records the session-level set_config calls of a
// statement that succeeded, as SETs of the same settings: carried to the
// client's next server connections and, inside a transaction, kept only
// if it commits. Replayed as set_config rather than SET, which reads a
// quoted value as one list element (search_path = 'a, b').
func (s *session) observeSetConfig(sc *serverConn, st string, recordTx bool) {
	e := router.SessionEffectsOf(st)
	if len(e.Settings) == 0 {
		return
	}
	for _, c := range e.Settings {
		if c.ValueParam > 0 {
			continue // a Parse's text; its Binds are observed (bindSetConfig)
		}
		change := settingChange{reset: c.Reset, setting: setting{name: c.Name}}
		switch {
		case c.IfExists:
			change.stmt = "SELECT pg_catalog.set_config(name, " + quoteLiteral(c.Value) + ", false) FROM pg_catalog.pg_settings WHERE name = " + quoteLiteral(c.Name)
		case !c.Reset:
			change.stmt = "SELECT pg_catalog.set_config(" + quoteLiteral(c.Name) + ", " + quoteLiteral(c.Value) + ", false)"
		}
		s.settings.staged = append(s.settings.staged, change)
	}
	if recordTx && s.txStatus == 'T' {
		s.noteTxSet(st)
		s.spreadSetConfig(sc, st)
	}
}

// spreadSetConfig runs a set_config statement that ran on sc on the other
// shards the open transaction has reached, as runEverywhere does for SET:
// the setting holds for the rest of the transaction on every shard of it.
// One that fails there is lost to the transaction: it cannot commit.
func (s *session) spreadSetConfig(sc *serverConn, st string) {
	if len(s.txShards) == 0 {
		return
	}
	for _, p := range s.participants() {
		if p.sc == sc || p.sc.broken {
			continue
		}
		if err := s.hiddenQuery(p.sc, st, 1); err != nil {
			p.sc.broken = true // COMMIT becomes ROLLBACK
		}
	}
}

// sessionAdvisoryLock reports whether stmt mentions pg_advisory_lock or
// pg_try_advisory_lock (and their _shared forms), in any case, anywhere:
// one pass for "advisory_lock", then a look at what precedes it. The
// transaction-level pg_advisory_xact_lock does not match.
func sessionAdvisoryLock(stmt string) bool {
	const word = "advisory_lock"
	for i := 0; ; {
		j := sqltext.IndexFold(stmt[i:], word)
		if j < 0 {
			return false
		}
		at := i + j
		if endsWithFold(stmt[:at], "pg_") || endsWithFold(stmt[:at], "pg_try_") {
			return true
		}
		i = at + 1
	}
}

// endsWithFold reports whether s ends with lower-case suffix, ignoring
// ASCII case.
func endsWithFold(s, suffix string) bool {
	return len(s) >= len(suffix) && sqltext.IndexFold(s[len(s)-len(suffix):], suffix) == 0
}

// quoteLiteral quotes a value as an SQL string literal.
func quoteLiteral(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// discardElsewhere runs the client's DISCARD statements, which ran on sc,
// on the other connections the session keeps in session pooling too: the
// session state they drop (temporary tables, session advisory locks,
// LISTEN registrations, settings) lives on every shard the session used,
// and a client that resets its connection (Npgsql does on returning it to
// its pool) must not leave a lock held on another shard. A connection that
// fails it is dropped, as the state on it is then unknown.
func (s *session) discardElsewhere(sc *serverConn, discards []string) {
	for id, p := range s.parked {
		if p == sc || p.broken {
			continue
		}
		for _, q := range discards {
			if err := s.hiddenQuery(p, q, 1); err != nil {
				s.dropParked(id)
				break
			}
			if w := sqltext.FirstWords(q); w.Is(1, "all") {
				// As on sc: settings are the defaults until re-applied, and
				// the server's prepared statements are gone.
				p.settings = "\x00after reset all"
				p.prepared.Purge()
				p.evicted = p.evicted[:0]
				clear(p.sqlStmts)
			}
		}
	}
}

// noteTxSet records a SET or RESET run inside the open transaction, for
// the shards it spreads to later (txStart). SET LOCAL, SET TRANSACTION and
// SET CONSTRAINTS too: they hold for the whole transaction, on every
// shard of it. Savepoint statements are recorded in the same list, in
// order: ROLLBACK TO undoes the SET LOCALs after its savepoint, and a
// shard reached later needs the transaction's savepoints (savepoint.go).
func (s *session) noteTxSet(stmt string) {
	s.txSets = append(s.txSets, stmt)
}
