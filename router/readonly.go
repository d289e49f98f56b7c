package router

// readOnlyFunctions are the functions a statement may call and still be
// sent to a replica. Any other function might write (nextval, setval, a
// user function with side effects, dblink...), so a statement calling one
// is a write and goes to the primary. Aggregates are read-only and are not
// listed here. Extend with sharding.read_only_functions.
var readOnlyFunctions = setOf(
	// math
	"abs", "ceil", "ceiling", "floor", "round", "trunc", "mod", "power", "sqrt", "exp", "ln", "log", "sign", "div",
	"greatest", "least", "random", "width_bucket",
	// strings
	"lower", "upper", "length", "char_length", "character_length", "octet_length", "substr", "substring", "trim",
	"btrim", "ltrim", "rtrim", "lpad", "rpad", "replace", "position", "strpos", "concat", "concat_ws", "left", "right",
	"split_part", "initcap", "repeat", "reverse", "md5", "to_hex", "format", "regexp_replace", "regexp_match",
	"regexp_matches", "starts_with", "translate", "quote_ident", "quote_literal", "string_to_array", "array_to_string",
	// dates and times
	"now", "date_trunc", "date_part", "extract", "age", "to_char", "to_date", "to_timestamp", "make_date",
	"make_timestamp", "make_interval", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timezone",
	"isfinite", "justify_days", "justify_hours", "date_bin",
	// conversion, null handling, arrays, json
	"coalesce", "nullif", "to_number", "array_length", "cardinality", "array_position", "array_remove",
	"array_append", "array_cat", "unnest", "generate_series", "jsonb_build_object", "json_build_object",
	"jsonb_build_array", "json_build_array", "to_json", "to_jsonb", "jsonb_extract_path", "jsonb_extract_path_text",
	"json_extract_path", "json_extract_path_text", "jsonb_typeof", "jsonb_array_length", "jsonb_set",
	"row_to_json", "jsonb_pretty", "gen_random_uuid",
	// window functions
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
	"last_value", "nth_value",
	// system information
	"current_setting", "version", "pg_backend_pid", "current_database", "current_schema", "current_user",
	"pg_is_in_recovery", "pg_last_wal_replay_lsn", "pg_last_wal_receive_lsn", "txid_current_if_assigned",
	"pg_postmaster_start_time", "has_table_privilege", "pg_typeof",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
