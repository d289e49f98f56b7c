"""What a Django application does with models sharded by their key,
printed as a transcript of every answer. The Go test (pydrivers_test.go)
runs it through pgshard, over several shards, and against one unsharded
PostgreSQL, and requires identical transcripts.

Usage: python3 django_sharded.py DSN schema|run

"schema" creates the tables (Django's schema editor, as a migration
would); between the two phases the test gives each shard's sequences a
block of their own (pgshard sequences --apply). "run" covers the ORM:
create() and bulk_create() that leave the key to its sequence, get() and
filter() by key and by other columns, aggregate(), annotate() with
Count/Sum over a join co-located on the key, values() with order_by and
slicing, select_related, prefetch_related, update() and delete() by key,
F() expressions, transaction.atomic() blocks nested into savepoints and
rolled back by an IntegrityError, select_for_update(), iterator() (a
server-side cursor declared WITH HOLD in autocommit), exists(),
distinct() counts, raw SQL through connection.cursor(), get_or_create()
and update_or_create(), bulk_update() (a CASE over keys of several
shards), counts over annotated querysets, Subquery/Exists with OuterRef,
in_bulk(), first()/last().
"""
import decimal
import os
import sys
import types
import urllib.parse

import django
from django.conf import settings

# The models below belong to an app "shop" made on the spot, so that a
# single file is the whole application.
shop = types.ModuleType("shop")
shop.__path__ = [os.path.dirname(os.path.abspath(__file__))]
sys.modules["shop"] = shop

dsn = urllib.parse.urlparse(sys.argv[1])
settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": dsn.path.lstrip("/"), "USER": urllib.parse.unquote(dsn.username or ""),
        "PASSWORD": urllib.parse.unquote(dsn.password or ""), "HOST": dsn.hostname, "PORT": dsn.port,
        "OPTIONS": {"sslmode": "disable"},
    }},
    INSTALLED_APPS=["shop"],
    USE_TZ=True, TIME_ZONE="UTC",
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

from django.db import IntegrityError, connection, models, transaction  # noqa: E402
from django.db.models import Avg, Count, Exists, F, Max, Min, OuterRef, Q, Subquery, Sum, Value  # noqa: E402
from django.db.models.functions import Coalesce, Lower  # noqa: E402


class Country(models.Model):
    code = models.CharField(max_length=2, primary_key=True)
    name = models.TextField()

    class Meta:
        app_label = "shop"
        db_table = "dj_country"


class Customer(models.Model):
    name = models.TextField()
    email = models.TextField(unique=False)
    country = models.ForeignKey(Country, on_delete=models.PROTECT, db_constraint=False)
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        app_label = "shop"
        db_table = "dj_customer"


class Order(models.Model):
    # Sharded by customer_id: orders live with their customer.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders", db_constraint=False)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.TextField(default="new")

    class Meta:
        app_label = "shop"
        db_table = "dj_order"


def out(*words):
    print(*words, flush=True)


def schema():
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS dj_order, dj_customer, dj_country")
    with connection.schema_editor() as editor:
        for m in (Country, Customer, Order):
            editor.create_model(m)


def run():
    Country.objects.bulk_create([Country(code=c, name=n) for c, n in
                                 (("NL", "Netherlands"), ("DE", "Germany"), ("FR", "France"), ("BR", "Brazil"))])
    first = Customer.objects.create(name="Ada", email="ada@example.com", country_id="NL", balance=decimal.Decimal("10.50"))
    out("create", first.pk, first.name)
    people = Customer.objects.bulk_create([
        Customer(name="c%02d" % i, email="c%02d@example.com" % i, country_id=("NL", "DE", "FR", "BR")[i % 4],
                 balance=decimal.Decimal(i * 13 % 97)) for i in range(1, 41)])
    out("bulk_create", [c.pk for c in people][:5], len(people))
    orders = []
    for c in people:
        for j in range(c.pk % 4):
            orders.append(Order(customer=c, amount=decimal.Decimal(c.pk * 7 % 50 + j), status=("new", "paid")[j % 2]))
    Order.objects.bulk_create(orders)
    out("orders", Order.objects.count(), len({o.pk for o in Order.objects.all()}))

    out("get by key", Customer.objects.get(pk=people[6].pk).name)
    out("get by email", Customer.objects.get(email="c11@example.com").pk)
    out("filter in", list(Customer.objects.filter(pk__in=[people[1].pk, people[20].pk, people[33].pk]).order_by("pk").values_list("name", flat=True)))
    out("aggregate", Customer.objects.aggregate(n=Count("id"), total=Sum("balance"), top=Max("balance")))
    out("by country", list(Customer.objects.values("country_id").annotate(n=Count("id"), total=Sum("balance")).order_by("country_id")))
    out("page", list(Customer.objects.order_by("-balance", "name").values_list("name", "balance")[5:10]))
    out("annotate join", [(c.name, c.n, c.spent) for c in
                          Customer.objects.annotate(n=Count("orders"), spent=Sum("orders__amount")).filter(n__gt=1).order_by("-spent", "name")[:5]])
    out("orders of one", [(o.status, o.amount) for o in Order.objects.filter(customer_id=people[1].pk).order_by("amount")])
    out("select_related", [(o.customer.name, o.amount) for o in Order.objects.select_related("customer").filter(customer_id__in=[people[1].pk, people[4].pk]).order_by("customer__name", "amount")])
    out("prefetch", [(c.name, sorted(o.amount for o in c.orders.all())) for c in Customer.objects.prefetch_related("orders").filter(pk__in=[people[2].pk, people[3].pk]).order_by("pk")])
    out("exists", Customer.objects.filter(country_id="FR", balance__gt=90).exists(), Customer.objects.filter(name="nobody").exists())
    out("distinct count", Customer.objects.values("country_id").distinct().count())
    out("q objects", Customer.objects.filter(Q(country_id="NL") | Q(balance__lt=5)).count())

    out("update by key", Customer.objects.filter(pk=people[4].pk).update(balance=F("balance") + 100))
    out("after update", Customer.objects.get(pk=people[4].pk).balance)
    c = Customer.objects.get(pk=people[5].pk)
    c.name = "renamed"
    c.save()
    out("save", Customer.objects.get(pk=people[5].pk).name)

    with transaction.atomic():
        Customer.objects.filter(pk=people[7].pk).update(balance=F("balance") - 1)
        try:
            with transaction.atomic():
                Customer.objects.filter(pk=people[8].pk).update(balance=0)
                Customer.objects.create(pk=people[9].pk, name="dup", email="dup", country_id="NL")
        except IntegrityError as e:
            out("inner atomic", e.__cause__.pgcode)
        Order.objects.create(customer_id=people[10].pk, amount=1, status="atomic")
    out("after atomic", [Customer.objects.get(pk=people[i].pk).balance for i in (7, 8)], Order.objects.filter(status="atomic").count())
    try:
        with transaction.atomic():
            Order.objects.create(customer_id=people[11].pk, amount=2, status="rolled")
            Order.objects.create(customer_id=people[12].pk, amount=2, status="rolled")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    out("rolled back", Order.objects.filter(status="rolled").count())
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=people[13].pk)
        locked.balance += 1
        locked.save()
    out("select_for_update", Customer.objects.get(pk=people[13].pk).balance)

    total, n = decimal.Decimal(0), 0
    for o in Order.objects.order_by("customer_id", "amount").iterator(chunk_size=7):
        total += o.amount
        n += 1
    out("iterator", n, total)

    out("delete by key", Order.objects.filter(customer_id=people[13].pk).delete())
    with connection.cursor() as cur:
        cur.execute("SELECT status, count(*), sum(amount) FROM dj_order GROUP BY status ORDER BY status")
        out("raw", cur.fetchall())

    obj, created = Customer.objects.get_or_create(email="new@example.com", defaults={"name": "new", "country_id": "DE"})
    out("get_or_create", created, obj.name)
    obj, created = Customer.objects.get_or_create(email="new@example.com", defaults={"name": "new2", "country_id": "DE"})
    out("get_or_create again", created, obj.name)
    obj, created = Customer.objects.update_or_create(pk=people[3].pk, defaults={"name": "upd"})
    out("update_or_create", created, obj.name)
    for c in people[:6]:
        c.balance = c.pk * 2
    Customer.objects.bulk_update(people[:6], ["balance"])
    out("bulk_update", list(Customer.objects.filter(pk__lte=people[5].pk).order_by("pk").values_list("balance", flat=True)))
    out("annotated count", Customer.objects.annotate(n=Count("orders")).filter(n__gte=2).count())
    top = Order.objects.filter(customer=OuterRef("pk")).order_by("-amount")
    out("subquery", [(c.name, c.top) for c in Customer.objects.annotate(top=Subquery(top.values("amount")[:1]))
                     .filter(pk__in=[people[1].pk, people[2].pk]).order_by("pk")])
    out("exists", Customer.objects.annotate(has=Exists(Order.objects.filter(customer=OuterRef("pk")))).filter(has=True).count())
    out("coalesce", Customer.objects.aggregate(a=Coalesce(Avg("balance"), Value(0), output_field=models.DecimalField()), m=Min("name")))
    out("lower", list(Customer.objects.annotate(low=Lower("name")).order_by("-low").values_list("low", flat=True)[:3]))
    out("in_bulk", sorted(Customer.objects.in_bulk([people[1].pk, people[7].pk]).keys()))
    out("distinct values", list(Order.objects.values_list("status", flat=True).distinct().order_by("status")))
    out("first/last", Customer.objects.order_by("balance", "pk").first().pk, Customer.objects.order_by("balance", "pk").last().pk)
    out("delete many", Order.objects.filter(customer_id__in=[people[1].pk, people[2].pk]).delete())
    out("done")


{"schema": schema, "run": run}[sys.argv[2]]()
