"""What one simulated router holds: rows per menu, id allocation and a change feed.

Configuration menus keep sparse rows in a :class:`Table` (only values that differ from the
menu's defaults), so thousands of rows stay small. Dynamic menus are :class:`View` objects
that render rows from the simulated world on demand. Every add, change and removal is
announced to watchers (``listen``, ``print follow``, the world itself) with
:meth:`RouterState.notify`; the watcher renders what it needs at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from routersim.errors import Trap
from routersim.menus import MENUS, Field, Menu, normalize
from routersim.values import normalize_prefix

Row = dict[str, str]
Watcher = Callable[[str, str, bool], None]  # (path, item id, dead)

NO_SUCH_ITEM = "no such item (4)"


class View(Protocol):
    """Rows of a dynamic menu, rendered from the world."""

    def ids(self) -> Iterable[str]: ...

    def render(self, item_id: str) -> Row | None: ...

    def remove(self, item_id: str) -> None: ...


class Table:
    """Rows of one configuration menu, stored sparsely, in insertion order."""

    def __init__(self, menu: Menu) -> None:
        self.menu = menu
        self.rows: dict[str, Row] = {}
        self.protected: set[str] = set()  # built-in rows that cannot be removed
        # Read-only values computed at render time (pool usage, interface counters).
        self.computed: Callable[[str, Row], Mapping[str, str]] | None = None
        self._next = 1
        self._named: dict[str, list[str]] = {}  # effective name -> ids, for fast lookups

    def ids(self) -> list[str]:
        return list(self.rows)

    def new_id(self) -> str:
        item_id = f"*{self._next:X}"
        self._next += 1
        return item_id

    def value(self, item_id: str, name: str) -> str | None:
        """The effective value of a field: stored or default."""
        row = self.rows[item_id]
        if name in row:
            return row[name]
        spec = self.menu.field(name)
        if spec is None:
            return None
        return spec.default if spec.default is not None else spec.implied

    def named(self, name: str) -> list[str]:
        return self._named.get(name, [])

    def names(self) -> list[str]:
        return list(self._named)

    def insert(self, values: Mapping[str, str], item_id: str | None = None) -> str:
        """Store an already validated row; returns its id. No notification."""
        item_id = item_id or self.new_id()
        self.rows[item_id] = {}
        self.update(item_id, values)
        self._index(item_id)
        return item_id

    def update(self, item_id: str, values: Mapping[str, str]) -> None:
        """Change stored values in place (no validation, no notification)."""
        self._unindex(item_id)
        row = self.rows[item_id]
        for name, value in values.items():
            spec = self.menu.field(name)
            if spec is not None and spec.default == value:
                row.pop(name, None)
            else:
                row[name] = value
        self._index(item_id)

    def unset(self, item_id: str, name: str) -> None:
        self._unindex(item_id)
        self.rows[item_id].pop(name, None)
        self._index(item_id)

    def delete(self, item_id: str) -> None:
        self._unindex(item_id)
        del self.rows[item_id]

    def _index(self, item_id: str) -> None:
        name = self.value(item_id, "name")
        if name is not None and item_id not in self._named.get(name, ()):
            self._named.setdefault(name, []).append(item_id)

    def _unindex(self, item_id: str) -> None:
        name = self.value(item_id, "name")
        ids = self._named.get(name, []) if name is not None else []
        if item_id in ids:
            ids.remove(item_id)
            if not ids:
                del self._named[name]  # type: ignore[arg-type]

    def render(self, item_id: str) -> Row | None:
        row = self.rows.get(item_id)
        if row is None:
            return None
        extra = self.computed(item_id, row) if self.computed else {}
        out: Row = {} if self.menu.singleton else {".id": item_id}
        for spec in self.menu.fields:
            value = row.get(spec.name)
            if value is None:
                value = extra.get(spec.name, spec.default)
            if value is not None:
                out[spec.name] = value
        return out


class RouterState:
    """Menus of one router: validated changes, lookups, and the change feed."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self._views: dict[str, list[View]] = {}
        self._watchers: dict[str, list[Watcher]] = {}
        self._internal: dict[str, list[Watcher]] = {}

    # -- structure -------------------------------------------------------------------------

    def add_table(self, path: str) -> Table:
        table = self.tables[path] = Table(MENUS[path])
        return table

    def add_view(self, path: str, view: View) -> None:
        """Rows rendered by ``view`` follow the table's rows (if the path has a table)."""
        self._views.setdefault(path, []).append(view)

    def table(self, path: str) -> Table:
        return self.tables[path]

    def has(self, path: str) -> bool:
        return path in self.tables or path in self._views

    def _sources(self, path: str) -> list[Table | View]:
        table = self.tables.get(path)
        return ([table] if table else []) + self._views.get(path, [])

    # -- reading ---------------------------------------------------------------------------

    def rows(self, path: str) -> list[Row]:
        out = []
        for source in self._sources(path):
            for item_id in list(source.ids()):
                row = source.render(item_id)
                if row is not None:
                    out.append(row)
        return out

    def render(self, path: str, item_id: str) -> Row | None:
        for source in self._sources(path):
            row = source.render(item_id)
            if row is not None:
                return row
        return None

    def names(self, path: str) -> list[str]:
        if path in self.tables:
            return self.tables[path].names()
        return [row["name"] for row in self.rows(path) if "name" in row]

    def resolve(self, path: str, text: str, positions: bool = False) -> list[str]:
        """Ids named by ``.id`` or ``numbers``: comma-joined ids, names, or print positions."""
        if MENUS[path].singleton:
            return [next(iter(self.tables[path].rows))]
        table = self.tables.get(path)
        found: list[str] = []
        rows: list[Row] | None = None
        for token in (t.strip() for t in text.split(",")):
            if token.startswith("*"):
                ids = [token] if self.render(path, token) is not None else []
            elif positions and token.isdigit():
                rows = rows if rows is not None else self.rows(path)
                index = int(token)
                ids = [rows[index][".id"]] if index < len(rows) else []
            elif table is not None and table.named(token):
                ids = table.named(token)[:1]
            else:
                rows = rows if rows is not None else self.rows(path)
                ids = [r[".id"] for r in rows if r.get("name") == token][:1]
            if not ids:
                raise Trap(NO_SUCH_ITEM)  # category UNCONFIRMED: captures show none
            found.extend(i for i in ids if i not in found)
        return found

    # -- writing (RouterOS semantics: validate everything, then change) ---------------------

    def _clean(self, menu: Menu, values: Mapping[str, str]) -> Row:
        clean: Row = {}
        for name, raw in values.items():
            spec = menu.field(name)
            if spec is None or spec.read_only:
                raise Trap("unknown parameter")  # category UNCONFIRMED
            clean[name] = normalize(spec, raw, self._allowed(spec))
        return clean

    def _allowed(self, spec: Field) -> list[str]:
        return self.names(spec.ref) if spec.ref else []

    def _check_unique(self, table: Table, row: Mapping[str, str], item_id: str | None) -> None:
        menu = table.menu
        if not menu.unique or "name" not in row:
            return
        for other in table.named(row["name"]):
            if other == item_id:
                continue
            if all(table.value(other, f) == row.get(f) for f in menu.unique):
                raise Trap(menu.duplicate)

    def _effective(self, table: Table, item_id: str | None, clean: Row) -> Row:
        merged: Row = {}
        for spec in table.menu.fields:
            if spec.name in clean:
                merged[spec.name] = clean[spec.name]
            elif item_id is not None and spec.name in table.rows[item_id]:
                merged[spec.name] = table.rows[item_id][spec.name]
            elif (value := spec.default or spec.implied) is not None:
                merged[spec.name] = value
        return merged

    def add(self, path: str, values: Mapping[str, str]) -> str:
        table = self.tables[path]
        menu = table.menu
        clean = self._clean(menu, values)
        missing = [f.name for f in menu.fields if f.required and f.name not in clean]
        if missing:
            # Wording UNCONFIRMED; RouterOS refuses an add without its required arguments.
            raise Trap(f"missing value(s) of argument(s) {', '.join(missing)}", 1)
        if menu.auto_name and "name" not in clean:
            n = 1
            while table.named(f"{menu.auto_name}{n}"):
                n += 1
            clean["name"] = f"{menu.auto_name}{n}"
        derive(path, clean)
        self._check_unique(table, self._effective(table, None, clean), None)
        item_id = table.insert(clean)
        self.notify(path, item_id)
        return item_id

    def set(self, path: str, ids: list[str], values: Mapping[str, str]) -> None:
        table = self._writable(path, ids)
        clean = self._clean(table.menu, values)
        derive(path, clean)
        for item_id in ids:
            self._check_unique(table, self._effective(table, item_id, clean), item_id)
        for item_id in ids:
            old_name = table.value(item_id, "name")
            table.update(item_id, clean)
            if old_name is not None and clean.get("name", old_name) != old_name:
                self._rename(path, old_name, clean["name"])
            self.notify(path, item_id)

    def unset(self, path: str, ids: list[str], names: Iterable[str]) -> None:
        table = self._writable(path, ids)
        names = list(names)
        for name in names:
            spec = table.menu.field(name)
            if spec is None or spec.read_only or spec.required or name == "name":
                raise Trap("unknown parameter")
        for item_id in ids:
            for name in names:
                table.unset(item_id, name)
            self.notify(path, item_id)

    def remove(self, path: str, ids: list[str]) -> None:
        table = self.tables.get(path)
        for item_id in ids:
            if table and item_id in table.protected:
                raise Trap("failure: can not remove default profile")  # wording UNCONFIRMED
        for item_id in ids:
            if table and item_id in table.rows:
                table.delete(item_id)
                self.notify(path, item_id, dead=True)
                continue
            for view in self._views.get(path, []):
                if view.render(item_id) is not None:
                    view.remove(item_id)
                    break

    def _writable(self, path: str, ids: list[str]) -> Table:
        table = self.tables.get(path)
        if table is None or any(i not in table.rows for i in ids):
            raise Trap(NO_SUCH_ITEM)  # a dynamic row: RouterOS cannot change it either
        return table

    def _rename(self, path: str, old: str, new: str) -> None:
        """RouterOS links by id, so references follow a renamed row; emulate that."""
        for other_path, table in self.tables.items():
            for spec in table.menu.fields:
                if spec.ref != path:
                    continue
                for item_id, row in table.rows.items():
                    if row.get(spec.name) == old:
                        table.update(item_id, {spec.name: new})
                        self.notify(other_path, item_id)

    # -- change feed -----------------------------------------------------------------------

    def watch(self, path: str, callback: Watcher, internal: bool = False) -> Callable[[], None]:
        """Call ``callback(path, id, dead)`` on every change of ``path``; returns an unwatch.

        ``internal`` watchers (the world's own bookkeeping) run first and are not counted
        by :meth:`listeners`.
        """
        watchers = self._internal if internal else self._watchers
        watchers.setdefault(path, []).append(callback)

        def unwatch() -> None:
            callbacks = watchers.get(path, [])
            if callback in callbacks:
                callbacks.remove(callback)

        return unwatch

    def listeners(self, path: str) -> int:
        """How many API streams (listen, follow) currently watch ``path``."""
        return len(self._watchers.get(path, ()))

    def notify(self, path: str, item_id: str, dead: bool = False) -> None:
        for callback in list(self._internal.get(path, ())):
            callback(path, item_id, dead)
        for callback in list(self._watchers.get(path, ())):
            callback(path, item_id, dead)


def derive(path: str, values: Row) -> None:
    """Values RouterOS fills in from others (an address's network and interface)."""
    if path == "/ip/address" and "address" in values:
        values.setdefault("network", normalize_prefix(values["address"])[1])
    if path == "/ip/address" and "interface" in values:
        values["actual-interface"] = values["interface"]
