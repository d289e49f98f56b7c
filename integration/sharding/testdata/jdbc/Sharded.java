// Sharded runs what a JDBC application does with a table sharded by its
// key and prints a transcript of every answer. The Go test (jdbc_test.go)
// runs it through pgshard, over several shards, and against one unsharded
// PostgreSQL, and requires identical transcripts.
//
// Usage: java -cp postgresql.jar Sharded.java URL USER PASSWORD
//
// It covers executeBatch with rows for every shard (one pipelined batch,
// which must commit whole or not at all), a PreparedStatement routed by its
// key parameter before and after pgjdbc switches to a named statement,
// merged reads across shards, a fetchSize read of a merged result in a
// transaction, a transaction that writes on several shards, and
// savepoints (explicit, and pgjdbc's autosave) in one that spans them, and
// keys bound as other Java types (double, BigDecimal, float, short, String),
// INSERT ... SELECT of rows that are not sharded, functions and
// procedures routed by their key argument, called as CallableStatements,
// a table keyed by a bigserial inserted into without its key
// (RETURN_GENERATED_KEYS, alone and in a batch), and LISTEN with autocommit
// off, with notifications read by getNotifications(timeout).
import java.math.BigDecimal;
import java.sql.BatchUpdateException;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

public class Sharded {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS jaccounts");
                s.execute("CREATE TABLE jaccounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL)");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jaccounts (id, owner, balance) VALUES (?, ?, ?)")) {
                for (long id = 1; id <= 120; id++) {
                    ps.setLong(1, id);
                    ps.setString(2, "owner-" + (id % 9));
                    ps.setBigDecimal(3, new BigDecimal(id * 37 % 1000).movePointLeft(1));
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                System.out.println("batch insert " + counts.length + " statements, " + Arrays.stream(counts).sum() + " rows");
            }
            // A batch for every shard whose last row repeats a key: PostgreSQL
            // inserts none of it.
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jaccounts (id, owner, balance) VALUES (?, ?, ?)")) {
                for (long id : new long[] {1001, 1002, 1003, 1004, 1005, 1006, 7}) {
                    ps.setLong(1, id);
                    ps.setString(2, "late");
                    ps.setBigDecimal(3, BigDecimal.ONE);
                    ps.addBatch();
                }
                ps.executeBatch();
                System.out.println("failing batch accepted");
            } catch (BatchUpdateException e) {
                System.out.println("failing batch " + e.getSQLState());
            }
            query(c, "after failing batch", "SELECT count(*), count(*) FILTER (WHERE owner = 'late') FROM jaccounts");

            try (PreparedStatement ps = c.prepareStatement("SELECT owner, balance FROM jaccounts WHERE id = ?")) {
                for (long id = 3; id <= 30; id += 3) {
                    ps.setLong(1, id);
                    try (ResultSet rs = ps.executeQuery()) {
                        print("by key " + id, rs);
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE jaccounts SET balance = balance + ? WHERE id = ?")) {
                for (long id = 10; id <= 16; id++) {
                    ps.setBigDecimal(1, new BigDecimal("0.50"));
                    ps.setLong(2, id);
                    System.out.println("update " + id + ": " + ps.executeUpdate());
                }
            }
            query(c, "merged aggregate", "SELECT count(*), sum(balance), min(balance), max(balance), avg(balance) FROM jaccounts");
            query(c, "merged group", "SELECT owner, count(*), sum(balance) FROM jaccounts GROUP BY owner HAVING count(*) > 12 ORDER BY owner");
            query(c, "merged top", "SELECT id, balance FROM jaccounts ORDER BY balance DESC, id LIMIT 5 OFFSET 2");

            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(25);
                try (ResultSet rs = s.executeQuery("SELECT id FROM jaccounts ORDER BY id DESC")) {
                    long n = 0, sum = 0, first = -1;
                    while (rs.next()) {
                        if (first < 0) {
                            first = rs.getLong(1);
                        }
                        n++;
                        sum += rs.getLong(1);
                    }
                    System.out.println("fetch in chunks: " + n + " rows, first " + first + ", sum " + sum);
                }
            }
            c.commit();

            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE jaccounts SET balance = balance - 5 WHERE id = 1");
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 5 WHERE id = 2");
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 1 WHERE id = 3");
            }
            c.commit();
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM jaccounts WHERE id = ?")) {
                for (long id = 100; id <= 110; id++) {
                    ps.setLong(1, id);
                    ps.addBatch();
                }
                System.out.println("batch delete in a transaction: " + Arrays.stream(ps.executeBatch()).sum());
            }
            c.rollback();
            c.setAutoCommit(true);
            query(c, "after transactions", "SELECT id, balance FROM jaccounts WHERE id IN (1, 2, 3, 100, 110) ORDER BY id");
            query(c, "final", "SELECT count(*), sum(balance) FROM jaccounts");

            // Keys bound as other Java types: the server compares a bigint
            // with a double in float8, with a BigDecimal in numeric, with a
            // float in real; pgjdbc sends most of them in binary. More runs
            // than prepareThreshold, so named statements are covered too.
            try (PreparedStatement ps = c.prepareStatement("SELECT id, owner FROM jaccounts WHERE id = ?")) {
                for (int i = 1; i <= 7; i++) {
                    ps.setDouble(1, i * 11);
                    try (ResultSet rs = ps.executeQuery()) {
                        print("double key " + (i * 11), rs);
                    }
                }
                ps.setDouble(1, 7.5);
                try (ResultSet rs = ps.executeQuery()) {
                    print("double key 7.5", rs);
                    System.out.println("double key 7.5 done");
                }
                for (String d : new String[] {"45.000", "45.5", "-0", "46"}) {
                    ps.setBigDecimal(1, new BigDecimal(d));
                    try (ResultSet rs = ps.executeQuery()) {
                        print("decimal key " + d, rs);
                    }
                }
                ps.setFloat(1, 47f);
                try (ResultSet rs = ps.executeQuery()) {
                    print("float key 47", rs);
                }
                ps.setShort(1, (short) 48);
                try (ResultSet rs = ps.executeQuery()) {
                    print("short key 48", rs);
                }
                ps.setString(1, "49");
                try (ResultSet rs = ps.executeQuery()) {
                    print("string key 49", rs);
                } catch (SQLException e) {
                    System.out.println("string key 49: " + e.getSQLState());
                }
            }
            // Rows stored with keys of other types sit where their bigint
            // key says: the IN list below reads only those keys' shards.
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jaccounts (id, owner, balance) VALUES (?, 'other type', 0)")) {
                ps.setDouble(1, 500);
                ps.executeUpdate();
                ps.setBigDecimal(1, new BigDecimal("501.00"));
                ps.executeUpdate();
                ps.setInt(1, 502);
                ps.executeUpdate();
            }
            query(c, "stored with other types", "SELECT id, owner FROM jaccounts WHERE id IN (500, 501, 502) ORDER BY id");

            // INSERT ... SELECT of rows that are not sharded (here from a
            // function): pgshard reads them and sends each to its key's
            // shard, through pgjdbc's extended protocol.
            try (Statement s = c.createStatement()) {
                int n = s.executeUpdate("INSERT INTO jaccounts (id, owner, balance) SELECT g, 'moved', g % 10 FROM generate_series(600, 640) g");
                System.out.println("moved " + n + " rows");
            }
            query(c, "after the move", "SELECT count(*), sum(balance) FROM jaccounts WHERE owner = 'moved'");
            query(c, "a moved row by key", "SELECT id, balance FROM jaccounts WHERE id = 617");
        }
        // Savepoints in a transaction over several shards: the Savepoint
        // API, and autosave=always, with which pgjdbc sets a savepoint
        // before each statement and rolls back to it when the statement
        // fails, so the transaction goes on.
        props.setProperty("autosave", "always");
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 100 WHERE id = 4");
                java.sql.Savepoint sp = c.setSavepoint();
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 100 WHERE id = 5");
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 100 WHERE id = 6");
                c.rollback(sp);
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 200 WHERE id = 7");
                try {
                    s.executeUpdate("INSERT INTO jaccounts (id, owner, balance) VALUES (8, 'dup', 0)");
                    System.out.println("duplicate accepted");
                } catch (SQLException e) {
                    System.out.println("duplicate " + e.getSQLState());
                }
                s.executeUpdate("UPDATE jaccounts SET balance = balance + 300 WHERE id = 9");
                query(c, "in savepoint transaction", "SELECT id, balance FROM jaccounts WHERE id BETWEEN 4 AND 9 ORDER BY id");
            }
            c.commit();
            query(c, "after savepoint transaction", "SELECT id, balance FROM jaccounts WHERE id BETWEEN 4 AND 9 ORDER BY id");
        }
        // Functions and procedures routed by their key argument
        // (sharding.functions): pgjdbc's {? = call ...} escape and a CALL.
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE OR REPLACE FUNCTION jdeposit(k bigint, amount numeric) RETURNS numeric LANGUAGE sql "
                        + "AS $$ UPDATE jaccounts SET balance = balance + amount WHERE id = k RETURNING balance $$");
                s.execute("CREATE OR REPLACE PROCEDURE jopen(k bigint, who text) LANGUAGE plpgsql "
                        + "AS $$ BEGIN INSERT INTO jaccounts VALUES (k, who, 0); END $$");
            }
            try (CallableStatement cs = c.prepareCall("{? = call jdeposit(?, ?)}")) {
                cs.registerOutParameter(1, Types.NUMERIC);
                for (long id = 20; id <= 26; id++) {
                    cs.setLong(2, id);
                    cs.setBigDecimal(3, new BigDecimal("1.25"));
                    cs.execute();
                    System.out.println("deposit " + id + ": " + cs.getBigDecimal(1));
                }
            }
            try (CallableStatement cs = c.prepareCall("CALL jopen(?, ?)")) {
                for (long id = 900; id <= 906; id++) {
                    cs.setLong(1, id);
                    cs.setString(2, "opened");
                    cs.execute();
                }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT owner, balance FROM jaccounts WHERE id = ?")) {
                for (long id = 900; id <= 906; id++) {
                    ps.setLong(1, id);
                    try (ResultSet rs = ps.executeQuery()) {
                        print("opened by key " + id, rs);
                    }
                }
            }
        }
        // A table keyed by a bigserial, inserted into as Hibernate's
        // IDENTITY generator and JPA do: no key, RETURN_GENERATED_KEYS
        // (pgjdbc adds RETURNING *), one by one and in a batch.
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS jledger");
                s.execute("CREATE TABLE jledger (id bigserial PRIMARY KEY, account bigint NOT NULL, amount numeric(12,2) NOT NULL)");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO jledger (account, amount) VALUES (?, ?)", Statement.RETURN_GENERATED_KEYS)) {
                for (long a = 1; a <= 6; a++) {
                    ps.setLong(1, a);
                    ps.setBigDecimal(2, new BigDecimal(a * 11).movePointLeft(1));
                    ps.executeUpdate();
                    try (ResultSet rs = ps.getGeneratedKeys()) {
                        print("generated key", rs);
                    }
                }
                for (long a = 7; a <= 20; a++) {
                    ps.setLong(1, a);
                    ps.setBigDecimal(2, BigDecimal.TEN);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                System.out.println("generated-key batch " + counts.length + " statements, " + Arrays.stream(counts).sum() + " rows");
                try (ResultSet rs = ps.getGeneratedKeys()) {
                    print("batch generated keys", rs);
                }
            }
            query(c, "ledger", "SELECT id, account, amount FROM jledger ORDER BY id");
        }
        // LISTEN with autocommit off (pgjdbc sends BEGIN with it, through
        // the extended protocol): committed it listens, rolled back it
        // does not; getNotifications(timeout) waits on the socket.
        try (Connection l = DriverManager.getConnection(args[0], props);
                Connection n = DriverManager.getConnection(args[0], props)) {
            l.setAutoCommit(false);
            try (Statement s = l.createStatement()) {
                s.execute("LISTEN jjobs");
            }
            l.commit();
            try (Statement s = l.createStatement()) {
                s.execute("LISTEN jnever");
            }
            l.rollback();
            try (Statement s = n.createStatement()) {
                s.execute("NOTIFY jnever, 'no'");
                s.execute("NOTIFY jjobs, 'one'");
            }
            try (PreparedStatement ps = n.prepareStatement("SELECT pg_notify('jjobs', ?)")) {
                ps.setString(1, "two");
                ps.execute();
            }
            PGConnection pg = l.unwrap(PGConnection.class);
            List<String> got = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 10000;
            while (got.size() < 2 && System.currentTimeMillis() < deadline) {
                PGNotification[] ns = pg.getNotifications(1000);
                if (ns != null) {
                    for (PGNotification x : ns) {
                        got.add(x.getName() + " " + x.getParameter());
                    }
                }
            }
            System.out.println("notifications " + got);
        }
        System.out.println("done");
    }

    static void query(Connection c, String label, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            print(label, rs);
        }
    }

    static void print(String label, ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        while (rs.next()) {
            StringBuilder row = new StringBuilder();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                row.append(md.getColumnLabel(i)).append('=').append(rs.getString(i)).append(' ');
            }
            System.out.println(label + ": " + row.toString().trim());
        }
    }
}
