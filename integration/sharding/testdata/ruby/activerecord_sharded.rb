# What a Rails application (ActiveRecord over the pg gem) does with models
# sharded by their key, printed as a transcript of every answer. The Go
# test (rubydrivers_test.go) runs it through pgshard, over several shards,
# and against one unsharded PostgreSQL, and requires identical
# transcripts.
#
# Usage: ruby activerecord_sharded.rb DSN schema|run
#
# "schema" creates the tables (ActiveRecord's migration DSL); between the
# two phases the test gives each shard's sequences a block of their own
# (pgshard sequences --apply). "run" covers ActiveRecord's habits: its
# type map loaded from pg_type at connect, prepared statements named a1,
# a2, ... (protocol level) with a statement cache small enough here that
# it frees them with DEALLOCATE, create leaving the key to its sequence
# (INSERT ... RETURNING "id"), insert_all, find/where by key and by other
# columns, calculations, joins and includes co-located on the key,
# update_all/delete_all by key, update_all of the key (the orders move to
# the new customer's shard), transactions with requires_new savepoints
# rolled back by a unique violation, lock (FOR UPDATE), find_each
# (batches ordered by the key), pluck and exists?.
require "active_record"
require "bigdecimal"

dsn, phase = ARGV
ActiveRecord::Base.establish_connection(dsn + (dsn.include?("?") ? "&" : "?") + "sslmode=disable&prepared_statements=true&statement_limit=5")
ActiveRecord::Base.logger = nil

class Customer < ActiveRecord::Base
  self.table_name = "ar_customer"
  has_many :orders, foreign_key: :customer_id
end

class Order < ActiveRecord::Base
  self.table_name = "ar_order"
  belongs_to :customer
end

def out(*words)
  puts words.map { |w| w.is_a?(String) ? w : w.inspect }.join(" ")
  $stdout.flush
end

def money(d) = d.to_s("F")

case phase
when "schema"
  ActiveRecord::Schema.define do
    drop_table :ar_order, if_exists: true
    drop_table :ar_customer, if_exists: true
    create_table :ar_customer do |t|
      t.text :name, null: false
      t.text :email, null: false
      t.text :country, null: false
      t.decimal :balance, precision: 12, scale: 2, null: false, default: 0
    end
    # Orders live with their customer: sharded by customer_id.
    create_table :ar_order do |t|
      t.bigint :customer_id, null: false
      t.decimal :amount, precision: 10, scale: 2, null: false
      t.text :status, null: false, default: "new"
    end
  end
when "run"
  first = Customer.create!(name: "Ada", email: "ada@example.com", country: "NL", balance: BigDecimal("10.5"))
  out "create", first.id, first.name
  people = (1..30).map { |i| Customer.create!(name: format("c%02d", i), email: format("c%02d@example.com", i), country: %w[NL DE FR BR][i % 4], balance: i * 13 % 97) }
  out "created", people.map(&:id).first(5), people.size
  Order.insert_all(people.flat_map { |c| (0...(c.id % 4)).map { |j| { customer_id: c.id, amount: c.id * 7 % 50 + j, status: %w[new paid][j % 2] } } })
  out "orders", Order.count, Order.distinct.count(:id)

  # The same shapes with many keys: more statements than statement_limit,
  # so ActiveRecord deallocates the oldest and prepares them again.
  10.times do |i|
    c = Customer.find(people[i].id)
    Order.where(customer_id: c.id).order(:amount).to_a
    Customer.where(email: c.email).pluck(:id)
    Customer.where(country: c.country).where("balance > ?", i).count
    Order.where(customer_id: c.id, status: "paid").sum(:amount)
    Customer.where(id: [c.id, people[i + 1].id]).order(:id).pluck(:name)
  end
  out "find", Customer.find(people[6].id).name, Customer.find_by(email: "c11@example.com").id
  out "where in", Customer.where(id: [people[1].id, people[20].id, people[25].id]).order(:id).pluck(:name)
  out "calculations", Customer.count, money(Customer.sum(:balance)), money(Customer.maximum(:balance)), money(Customer.average(:balance).round(4))
  out "group", Customer.group(:country).order(:country).count, Customer.group(:country).order(:country).sum(:balance).transform_values { |v| money(v) }
  out "page", Customer.order(balance: :desc, name: :asc).offset(5).limit(5).pluck(:name, :balance).map { |n, b| [n, money(b)] }
  out "joins", Customer.joins(:orders).group("ar_customer.id", "ar_customer.name").having("count(*) > 1")
                       .order(Arel.sql("sum(ar_order.amount) DESC, ar_customer.name")).limit(5).pluck("ar_customer.name", Arel.sql("sum(ar_order.amount)")).map { |n, s| [n, money(s)] }
  out "includes", Customer.includes(:orders).where(id: [people[1].id, people[2].id]).order(:id).map { |c| [c.name, c.orders.map { |o| money(o.amount) }.sort] }
  out "exists", Customer.where(country: "FR").where("balance > 90").exists?, Customer.where(name: "nobody").exists?
  out "update_all", Customer.where(id: people[4].id).update_all("balance = balance + 100"), money(Customer.find(people[4].id).balance)
  # Orders handed to another customer move to that customer's shard.
  moved = Order.where(customer_id: people[12].id).update_all(customer_id: people[13].id)
  out "move orders", moved, Order.where(customer_id: people[13].id).pluck(:amount).map { |a| money(a) }.sort
  c = Customer.find(people[5].id)
  c.update!(name: "renamed")
  out "save", Customer.find(people[5].id).name

  Customer.transaction do
    Customer.where(id: people[7].id).update_all("balance = balance - 1")
    begin
      Customer.transaction(requires_new: true) do
        Customer.where(id: people[8].id).update_all(balance: 0)
        Customer.create!(id: people[9].id, name: "dup", email: "dup", country: "NL")
      end
    rescue ActiveRecord::RecordNotUnique => e
      out "inner transaction", e.cause.result.error_field(PG::Result::PG_DIAG_SQLSTATE)
    end
    Order.create!(customer_id: people[10].id, amount: 1, status: "atomic")
  end
  out "after transaction", [7, 8].map { |i| money(Customer.find(people[i].id).balance) }, Order.where(status: "atomic").count
  Customer.transaction do
    Order.create!(customer_id: people[11].id, amount: 2, status: "rolled")
    Order.create!(customer_id: people[12].id, amount: 2, status: "rolled")
    raise ActiveRecord::Rollback
  end
  out "rolled back", Order.where(status: "rolled").count
  Customer.transaction do
    locked = Customer.lock.find(people[13].id)
    locked.update!(balance: locked.balance + 1)
  end
  out "lock", money(Customer.find(people[13].id).balance)

  n = 0
  total = BigDecimal("0")
  Order.find_each(batch_size: 7) { |o| n += 1; total += o.amount }
  out "find_each", n, money(total)
  out "delete_all by key", Order.where(customer_id: people[1].id).delete_all
  out "raw", ActiveRecord::Base.connection.select_rows("SELECT status, count(*), sum(amount) FROM ar_order GROUP BY status ORDER BY status")
  out "done"
end
