// Transcript runs what a typical JDBC application does — pgjdbc's own
// protocol habits included — and prints a transcript of every answer. The Go
// test (jdbc_test.go) runs it once against PostgreSQL directly and once
// through pgshard and requires the two transcripts to be identical.
//
// Usage: java -cp postgresql.jar Transcript.java URL USER PASSWORD
//
// What pgjdbc does that other drivers do not, and what each part covers:
//   - extended protocol only, the unnamed statement until a PreparedStatement
//     has run prepareThreshold (5) times, then named ones ("S_1", ...), which
//     every connection numbers from 1: names collide across clients sharing
//     a server connection in transaction pooling;
//   - executeBatch pipelines Parse/Bind/Execute for every row before one Sync;
//   - setAutoCommit(false) sends BEGIN in the same batch as the first
//     statement; savepoints; session characteristics (isolation level);
//   - setFetchSize inside a transaction reads through a portal in chunks
//     (Execute with a row limit, PortalSuspended), two portals interleaved;
//   - setQueryTimeout cancels with a CancelRequest on a new connection;
//   - currentSchema is a startup parameter (search_path);
//   - CopyManager (COPY FROM STDIN / TO STDOUT), generated keys (RETURNING),
//     several statements in one execute(), DatabaseMetaData catalog queries.
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class Transcript {
    static final PrintStream out = System.out;

    public static void main(String[] args) throws Exception {
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection c = DriverManager.getConnection(url, props)) {
            setup(c);
            types(c);
            prepared(c);
            batch(c);
            transactions(c);
            fetchInChunks(c);
            errors(c);
            queryTimeout(c);
            generatedKeys(c);
            multipleResults(c);
            copy(c);
            metadata(c);
        }
        simpleQueryMode(url, props);
        concurrentClients(url, props);
        out.println("done");
    }

    static void setup(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS items, events, counters");
            s.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int)");
            s.execute("CREATE TABLE events (id serial PRIMARY KEY, what text)");
            s.execute("CREATE TABLE counters (client int, i int, PRIMARY KEY (client, i))");
        }
        out.println("setup ok");
    }

    static void types(Connection c) throws SQLException {
        String q = "SELECT 1::int2 AS a, 2::int4 AS b, 3000000000::int8 AS c, 1.5::float4 AS d, 2.25::float8 AS e,"
                + " 12345.6789::numeric AS f, 'héllo ✓'::text AS g, true AS h, NULL::int AS i,"
                + " '2024-02-29 12:34:56.789+00'::timestamptz AS j, '2024-02-29'::date AS k, '\\xdeadbeef'::bytea AS l,"
                + " ARRAY[1,2,3] AS m, '{\"a\": [1, 2]}'::jsonb AS n, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS o,"
                + " interval '1 day 2 hours' AS p";
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(q)) {
            printRows("types", rs);
        }
    }

    // The same PreparedStatement run past prepareThreshold becomes a named
    // server-side statement; a parameter of another type makes pgjdbc
    // prepare it again under a new name.
    static void prepared(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT ? * 2 AS doubled, upper(?) AS up")) {
            for (int i = 0; i < 8; i++) {
                ps.setInt(1, i);
                ps.setString(2, "v" + i);
                try (ResultSet rs = ps.executeQuery()) {
                    printRows("prepared int " + i, rs);
                }
            }
            ps.setBigDecimal(1, new BigDecimal("1.25"));
            ps.setString(2, "numeric");
            try (ResultSet rs = ps.executeQuery()) {
                printRows("prepared numeric", rs);
            }
            ps.setLong(1, 5000000000L);
            ps.setString(2, "bigint");
            try (ResultSet rs = ps.executeQuery()) {
                printRows("prepared bigint", rs);
            }
        }
    }

    static void batch(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO items (id, name, qty) VALUES (?, ?, ?)")) {
            for (int i = 1; i <= 50; i++) {
                ps.setInt(1, i);
                ps.setString(2, "item-" + i);
                ps.setInt(3, i * 10);
                ps.addBatch();
            }
            out.println("batch insert counts " + Arrays.toString(ps.executeBatch()));
        }
        try (Statement s = c.createStatement()) {
            s.addBatch("UPDATE items SET qty = qty + 1 WHERE id <= 10");
            s.addBatch("DELETE FROM items WHERE id > 45");
            s.addBatch("INSERT INTO items VALUES (100, 'hundred', 100)");
            out.println("batch mixed counts " + Arrays.toString(s.executeBatch()));
        }
        query(c, "batch result", "SELECT count(*), sum(qty), min(id), max(id) FROM items");
    }

    static void transactions(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO items VALUES (1000, 'rolled back', 0)");
            c.rollback();
            s.executeUpdate("INSERT INTO items VALUES (1001, 'kept', 1)");
            Savepoint sp = c.setSavepoint("sp1");
            s.executeUpdate("INSERT INTO items VALUES (1002, 'undone by savepoint', 2)");
            c.rollback(sp);
            s.executeUpdate("INSERT INTO items VALUES (1003, 'kept too', 3)");
            c.commit();
        }
        c.setAutoCommit(true);
        query(c, "tx result", "SELECT id, name FROM items WHERE id >= 1000 ORDER BY id");

        c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
        c.setAutoCommit(false);
        query(c, "tx isolation", "SHOW transaction_isolation");
        c.commit();
        c.setAutoCommit(true);
        c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        query(c, "tx isolation reset", "SHOW transaction_isolation");
    }

    // Cursor-style reads: within a transaction pgjdbc fetches fetchSize rows
    // at a time from a named portal; two portals are read in turn.
    static void fetchInChunks(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s1 = c.createStatement(); Statement s2 = c.createStatement()) {
            s1.setFetchSize(7);
            s2.setFetchSize(3);
            try (ResultSet a = s1.executeQuery("SELECT id, qty FROM items ORDER BY id");
                    ResultSet b = s2.executeQuery("SELECT g FROM generate_series(1, 10) g")) {
                StringBuilder sb = new StringBuilder();
                boolean moreA = true, moreB = true;
                while (moreA || moreB) {
                    if (moreA && (moreA = a.next())) {
                        sb.append('a').append(a.getInt(1)).append(':').append(a.getInt(2)).append(' ');
                    }
                    if (moreB && (moreB = b.next())) {
                        sb.append('b').append(b.getInt(1)).append(' ');
                    }
                }
                out.println("fetch interleaved " + sb.toString().trim());
            }
        }
        c.commit();
        c.setAutoCommit(true);
    }

    static void errors(Connection c) throws SQLException {
        expectError(c, "error duplicate", "INSERT INTO items VALUES (1, 'again', 0)");
        expectError(c, "error syntax", "SELEC 1");
        expectError(c, "error division", "SELECT 1 / (qty - qty) FROM items WHERE id = 1");
        query(c, "error then ok", "SELECT count(*) FROM items");
        c.setAutoCommit(false);
        expectError(c, "error in tx", "INSERT INTO items VALUES (2, 'again', 0)");
        expectError(c, "error tx aborted", "SELECT 1");
        c.rollback();
        query(c, "error after rollback", "SELECT count(*) FROM items");
        c.setAutoCommit(true);
    }

    static void queryTimeout(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.setQueryTimeout(1);
            long start = System.nanoTime();
            try {
                s.execute("SELECT pg_sleep(20)");
                out.println("timeout not cancelled");
            } catch (SQLException e) {
                long ms = (System.nanoTime() - start) / 1_000_000;
                out.println("timeout " + e.getSQLState() + " within 3s: " + (ms < 3000));
            }
        }
        query(c, "timeout then ok", "SELECT 42");
    }

    static void generatedKeys(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO events (what) VALUES (?)", Statement.RETURN_GENERATED_KEYS)) {
            for (String w : List.of("created", "updated", "deleted")) {
                ps.setString(1, w);
                ps.executeUpdate();
                try (ResultSet rs = ps.getGeneratedKeys()) {
                    printRows("keys " + w, rs);
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE items SET qty = qty * 2 WHERE id <= ?", new String[] {"id", "qty"})) {
            ps.setInt(1, 3);
            out.println("keys update count " + ps.executeUpdate());
            try (ResultSet rs = ps.getGeneratedKeys()) {
                printRows("keys update", rs);
            }
        }
    }

    static void multipleResults(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            boolean isRs = s.execute("SELECT 1 AS one; UPDATE items SET qty = qty WHERE id <= 5; SELECT 'x' AS ex, 2 AS two");
            int n = 0;
            while (true) {
                if (isRs) {
                    try (ResultSet rs = s.getResultSet()) {
                        printRows("multi " + n, rs);
                    }
                } else {
                    int count = s.getUpdateCount();
                    if (count == -1) {
                        break;
                    }
                    out.println("multi " + n + " update count " + count);
                }
                n++;
                isRs = s.getMoreResults();
            }
        }
    }

    static void copy(Connection c) throws Exception {
        CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
        StringBuilder csv = new StringBuilder();
        for (int i = 200; i < 300; i++) {
            csv.append(i).append(",\"copied, ").append(i).append("\",").append(i % 7).append('\n');
        }
        out.println("copy in rows " + cm.copyIn("COPY items (id, name, qty) FROM STDIN WITH (FORMAT csv)", new StringReader(csv.toString())));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        long n = cm.copyOut("COPY (SELECT id, name, qty FROM items WHERE id BETWEEN 200 AND 299 ORDER BY id) TO STDOUT WITH (FORMAT csv)", buf);
        String text = buf.toString(StandardCharsets.UTF_8);
        out.println("copy out rows " + n + " same as copied in: " + text.equals(csv.toString()));
        try {
            cm.copyIn("COPY items (id, name, qty) FROM STDIN WITH (FORMAT csv)", new StringReader("300,ok,1\n301,bad,notanumber\n"));
            out.println("copy bad row accepted");
        } catch (SQLException e) {
            out.println("copy bad row " + e.getSQLState());
        }
        query(c, "copy after failure", "SELECT count(*) FROM items WHERE id BETWEEN 300 AND 399");
    }

    static void metadata(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();
        String schema = c.getSchema();
        List<String> tables = new ArrayList<>();
        try (ResultSet rs = md.getTables(null, schema, "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                tables.add(rs.getString("TABLE_NAME"));
            }
        }
        out.println("meta tables " + tables);
        StringBuilder cols = new StringBuilder();
        try (ResultSet rs = md.getColumns(null, schema, "items", "%")) {
            while (rs.next()) {
                cols.append(rs.getString("COLUMN_NAME")).append(' ').append(rs.getString("TYPE_NAME"))
                        .append(' ').append(rs.getString("IS_NULLABLE")).append("; ");
            }
        }
        out.println("meta columns " + cols.toString().trim());
        try (ResultSet rs = md.getPrimaryKeys(null, schema, "counters")) {
            List<String> pk = new ArrayList<>();
            while (rs.next()) {
                pk.add(rs.getString("COLUMN_NAME"));
            }
            out.println("meta primary key " + pk);
        }
    }

    // preferQueryMode=simple: pgjdbc inlines parameters into simple Query
    // messages instead of using the extended protocol.
    static void simpleQueryMode(String url, Properties props) throws SQLException {
        Properties p = new Properties();
        p.putAll(props);
        p.setProperty("preferQueryMode", "simple");
        try (Connection c = DriverManager.getConnection(url, p);
                PreparedStatement ps = c.prepareStatement("SELECT name, qty FROM items WHERE id = ? OR name = ? ORDER BY id")) {
            ps.setInt(1, 7);
            ps.setString(2, "it's \"quoted\"");
            try (ResultSet rs = ps.executeQuery()) {
                printRows("simple mode", rs);
            }
            // One Query message: the position counts from its start.
            expectError(c, "simple mode syntax", "SELECT 'héé'; SELECT 1 FRM items");
        }
    }

    // Twenty connections at once, each with its own S_1, S_2... through
    // whatever server connections the pool hands out.
    static void concurrentClients(String url, Properties props) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(20);
        List<Future<String>> results = new ArrayList<>();
        for (int client = 0; client < 20; client++) {
            final int id = client;
            results.add(pool.submit(() -> {
                try (Connection c = DriverManager.getConnection(url, props);
                        PreparedStatement ins = c.prepareStatement("INSERT INTO counters VALUES (?, ?)");
                        PreparedStatement sum = c.prepareStatement("SELECT count(*), sum(i) FROM counters WHERE client = ?")) {
                    for (int i = 1; i <= 15; i++) {
                        ins.setInt(1, id);
                        ins.setInt(2, i);
                        ins.executeUpdate();
                        sum.setInt(1, id);
                        try (ResultSet rs = sum.executeQuery()) {
                            rs.next();
                            if (rs.getInt(1) != i || rs.getInt(2) != i * (i + 1) / 2) {
                                return "client " + id + " saw count " + rs.getInt(1) + " sum " + rs.getInt(2) + " after " + i;
                            }
                        }
                    }
                    return "ok";
                }
            }));
        }
        List<String> bad = new ArrayList<>();
        for (Future<String> f : results) {
            String r = f.get();
            if (!r.equals("ok")) {
                bad.add(r);
            }
        }
        pool.shutdown();
        out.println("concurrent clients " + (bad.isEmpty() ? "all ok" : bad.toString()));
        try (Connection c = DriverManager.getConnection(url, props)) {
            query(c, "concurrent total", "SELECT count(*), sum(i) FROM counters");
        }
    }

    static void query(Connection c, String label, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            printRows(label, rs);
        }
    }

    static void expectError(Connection c, String label, String sql) {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
            out.println(label + " no error");
        } catch (SQLException e) {
            out.println(label + " " + e.getSQLState() + " " + e.getMessage().replace('\n', ' '));
        }
    }

    static void printRows(String label, ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder head = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            head.append(md.getColumnLabel(i)).append(':').append(md.getColumnTypeName(i)).append(' ');
        }
        out.println(label + " columns " + head.toString().trim());
        while (rs.next()) {
            StringBuilder row = new StringBuilder();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                row.append(rs.getString(i)).append(" | ");
            }
            out.println(label + " row " + row);
        }
    }
}
