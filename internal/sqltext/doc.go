// Package sqltext is a small SQL scanner shared by the wire layer and the
// router: where statements begin and end, their leading keywords, literal
// tokens and pgshard's comment hints. It understands comments (nested),
// quoted strings and identifiers, E” escapes and dollar quoting, so a ';',
// a keyword or a hint inside them is never mistaken. It never decides what
// a statement means: that is libpg_query's job in the router.
package sqltext
