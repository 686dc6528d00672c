"""`Percentile(field, p)`: the continuous percentile (linear interpolation between the two
nearest values, PostgreSQL's `percentile_cont`) as an ORM aggregate, so a median and a p90
come out of the same grouped query as the counts.

SQLite has no such function: `register_sqlite` (connected to `connection_created` in
ReportsConfig.ready()) adds `reports_percentile(value, p)` to each SQLite connection, computed
the same way, so both databases give the same figures from the same query."""

import math

from django.db.models import Aggregate, FloatField


class Percentile(Aggregate):
    function = "percentile_cont"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(p)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, p: float, **extra):
        if not 0 <= p <= 1:
            raise ValueError(f"a percentile is between 0 and 1, not {p!r}")
        super().__init__(expression, p=repr(float(p)), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        # As attributes, not keywords: Aggregate.as_sql passes its own `template` when filtered.
        clone = self.copy()
        clone.function = "reports_percentile"
        clone.template = "%(function)s(%(expressions)s, %(p)s)"
        return clone.as_sql(compiler, connection, **extra_context)


def interpolated(values: list[float], p: float) -> float | None:
    """percentile_cont of the values: the value at position p * (n - 1) of the sorted values,
    interpolated between its neighbours."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _SqlitePercentile:
    def __init__(self):
        self.values: list[float] = []
        self.p = 0.5

    def step(self, value, p):
        if value is not None:
            self.values.append(value)
        self.p = p

    def finalize(self):
        return interpolated(self.values, self.p)


def register_sqlite(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("reports_percentile", 2, _SqlitePercentile)
