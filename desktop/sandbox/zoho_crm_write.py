"""Zoho CRM writes: insert, update, upsert and delete with per-record results.

Records of one call are handled one by one in request order, so a later record sees
the earlier ones (two records with one unique e-mail: the second is a duplicate). Each
record gets a result ``{"code", "details", "message", "status"}``; :func:`batch_status`
turns the results into the HTTP status (201/200, 207 mixed, 400 all failed).
:class:`CrmMutations` is the same machinery for tests and the admin endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from desktop.errors import BillbridgeError
from desktop.sandbox.zoho_crm_schema import (
    DEFAULT_DUPLICATE_CHECK,
    MODULE_IDS,
    MODULES,
    PIPELINES,
    FieldProblem,
    coerce,
    field_named,
    fields_of,
)
from desktop.sandbox.zoho_crm_store import CrmRecord, CrmStore, iso_time

Mode = Literal["insert", "update", "upsert"]
#: Records per insert/update/upsert/delete call.
MAX_RECORDS: Final[int] = 100


class CrmMutationError(BillbridgeError):
    """A sandbox-side CRM change was refused (unknown module or record, bad value)."""


def _error(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "details": details, "message": message, "status": "error"}


def _norm(value: Any) -> str:
    return str(value).strip().lower()


@dataclass
class _Index:
    """Live records by the lower-cased value of some fields, kept current during a call."""

    store: CrmStore
    module: str
    by_field: dict[str, dict[str, list[CrmRecord]]]

    @classmethod
    def build(cls, store: CrmStore, module: str, names: set[str]) -> _Index:
        by_field: dict[str, dict[str, list[CrmRecord]]] = {name: {} for name in names}
        if names:
            for record in store.live(module):
                for name in names:
                    value = store.value(module, record, name)
                    if value not in (None, ""):
                        by_field[name].setdefault(_norm(value), []).append(record)
        return cls(store, module, by_field)

    def matches(self, name: str, value: Any, exclude: CrmRecord | None = None) -> list[CrmRecord]:
        """Live records whose ``name`` equals ``value`` (case-insensitive), oldest first."""
        bucket = self.by_field.get(name, {}).get(_norm(value), [])
        found = [
            r
            for r in bucket
            if r is not exclude
            and not r.deleted
            and _norm(self.store.value(self.module, r, name)) == _norm(value)
        ]
        return sorted({id(r): r for r in found}.values(), key=lambda r: (r.created, int(r.id)))

    def add(self, record: CrmRecord) -> None:
        """Indexes a record just written."""
        for name, bucket in self.by_field.items():
            value = self.store.value(self.module, record, name)
            if value not in (None, ""):
                bucket.setdefault(_norm(value), []).append(record)


class CrmWriter:
    """Runs write calls against a :class:`CrmStore`.

    Args:
        store: the CRM store.
    """

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    # -------------------------------------------------------------- entry

    def write(
        self,
        module: str,
        mode: Mode,
        items: Sequence[object],
        user: int,
        duplicate_check: Sequence[str] = (),
        path_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Applies one call's records and returns their results in request order."""
        unique = set(self.store.config.unique(module))
        checks = list(duplicate_check) or list(DEFAULT_DUPLICATE_CHECK[module])
        with self.store.lock:
            index = _Index.build(
                self.store, module, unique | (set(checks) if mode == "upsert" else set())
            )
            results = []
            for position, item in enumerate(items):
                results.append(
                    self._one(module, mode, item, position, user, index, unique, checks, path_id)
                )
            return results

    def delete(self, module: str, ids: Sequence[str], user: int) -> list[dict[str, Any]]:
        """Moves records to the recycle bin; one result per id."""
        out = []
        with self.store.lock:
            now = self.store.world.clock_now()
            for record_id in ids:
                record = self.store.get(module, record_id)
                if record is None:
                    out.append(
                        _error("INVALID_DATA", "the id given seems to be invalid", id=record_id)
                    )
                    continue
                self.store.delete(module, record, user, now)
                out.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": record_id},
                        "message": "record deleted",
                        "status": "success",
                    }
                )
        return out

    # ------------------------------------------------------------ records

    def _one(
        self,
        module: str,
        mode: Mode,
        item: object,
        position: int,
        user: int,
        index: _Index,
        unique: set[str],
        checks: list[str],
        path_id: str | None,
    ) -> dict[str, Any]:
        path = f"$.data[{position}]"
        if not isinstance(item, Mapping):
            return _error(
                "INVALID_DATA", "invalid data", expected_data_type="jsonobject", json_path=path
            )
        target: CrmRecord | None = None
        duplicate_field: str | None = None
        if mode == "update":
            record_id = path_id or item.get("id")
            if record_id in (None, ""):
                return _error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    api_name="id",
                    json_path=f"{path}.id",
                )
            target = self.store.get(module, str(record_id))
            if target is None:
                return _error(
                    "INVALID_DATA",
                    "the id given seems to be invalid",
                    api_name="id",
                    json_path=f"{path}.id",
                    id=str(record_id),
                )
        changes, errors = self._prepare(module, item, path)
        if mode == "upsert" and not errors:
            found = self._match(module, changes, checks, index, path)
            if isinstance(found, dict):
                return found
            if found is not None:
                target, duplicate_field = found
        invalid = {e["details"].get("api_name") for e in errors}
        errors.extend(
            e
            for e in self._mandatory(module, changes, path, target)
            if e["details"]["api_name"] not in invalid
        )
        errors.extend(self._dependent(module, changes, path, target))
        if not errors:
            errors.extend(self._duplicates(module, changes, path, target, index, unique))
        if errors:
            if len(errors) == 1:
                return errors[0]
            return _error("MULTIPLE_OR_MULTI_ERRORS", "multiple errors occurred", errors=errors)
        now = self.store.world.clock_now()
        if target is None:
            record = self.store.create(module, changes, user, now)
            message, action = "record added", "insert"
        else:
            record = target
            self.store.write(module, record, changes, user, now)
            message, action = "record updated", "update"
        index.add(record)
        result: dict[str, Any] = {
            "code": "SUCCESS",
            "details": self._details(module, record),
            "message": message,
            "status": "success",
        }
        if mode == "upsert":
            result["action"] = action
            result["duplicate_field"] = duplicate_field
        return result

    def _prepare(
        self, module: str, item: Mapping[str, Any], path: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        config = self.store.config
        changes: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, value in item.items():
            spec = field_named(module, key)
            if spec is None or spec.read_only:
                continue  # Zoho ignores unknown and system fields in a write.
            if key == "Currency" and not config.multi_currency:
                continue
            where = f"{path}.{key}"
            try:
                canonical = coerce(spec, value)
            except FieldProblem as problem:
                errors.append(
                    _error(
                        problem.code,
                        problem.message,
                        api_name=key,
                        json_path=where,
                        **problem.details,
                    )
                )
                continue
            if canonical is not None and not self._exists(spec.data_type, spec.lookup, canonical):
                errors.append(
                    _error(
                        "INVALID_DATA",
                        "invalid data",
                        api_name=key,
                        json_path=where,
                        expected_data_type="jsonobject",
                    )
                )
                continue
            if key == "Currency" and canonical not in config.currencies:
                errors.append(
                    _error(
                        "INVALID_DATA",
                        "invalid data",
                        api_name=key,
                        json_path=where,
                        supported_values=list(config.currencies),
                    )
                )
                continue
            changes[key] = canonical
        return changes, errors

    def _exists(self, data_type: str, lookup: str | None, value: str) -> bool:
        if data_type in ("ownerlookup", "userlookup"):
            index = self.store.user_index(value)
            return index is not None and self.store.user(index).status == "active"
        if data_type == "lookup" and lookup is not None:
            return self.store.get(lookup, value) is not None
        return True

    def _mandatory(
        self, module: str, changes: dict[str, Any], path: str, target: CrmRecord | None
    ) -> list[dict[str, Any]]:
        names = [f.api_name for f in fields_of(module) if f.mandatory]
        if module == "Deals" and self.store.config.pipeline_mandatory:
            names.append("Pipeline")
        out = []
        for name in names:
            missing = changes.get(name) in (None, "")
            if missing and (target is None or name in changes):
                out.append(
                    _error(
                        "MANDATORY_NOT_FOUND",
                        "required field not found",
                        api_name=name,
                        json_path=f"{path}.{name}",
                    )
                )
        return out

    def _dependent(
        self, module: str, changes: dict[str, Any], path: str, target: CrmRecord | None
    ) -> list[dict[str, Any]]:
        if module != "Deals" or ("Stage" not in changes and "Pipeline" not in changes):
            return []

        def current(name: str) -> Any:
            if name in changes:
                return changes[name]
            return None if target is None else self.store.value(module, target, name)

        pipeline, stage = current("Pipeline") or next(iter(PIPELINES)), current("Stage")
        if stage is None or stage in PIPELINES.get(pipeline, ()):
            return []
        return [
            _error(
                "DEPENDENT_MISMATCH",
                "dependent field mismatch",
                api_name="Stage",
                json_path=f"{path}.Stage",
                dependee={"api_name": "Pipeline", "json_path": f"{path}.Pipeline"},
            )
        ]

    def _duplicates(
        self,
        module: str,
        changes: dict[str, Any],
        path: str,
        target: CrmRecord | None,
        index: _Index,
        unique: set[str],
    ) -> list[dict[str, Any]]:
        for name in sorted(unique):
            value = changes.get(name)
            if value in (None, ""):
                continue
            clash = index.matches(name, value, exclude=target)
            if clash:
                return [self._duplicate_error(module, name, f"{path}.{name}", clash)]
        return []

    def _duplicate_error(
        self, module: str, name: str, json_path: str, clash: list[CrmRecord]
    ) -> dict[str, Any]:
        first = clash[0]
        owner = self.store.user(first.owner)
        return _error(
            "DUPLICATE_DATA",
            "duplicate data",
            api_name=name,
            json_path=json_path,
            duplicate_record={
                "id": first.id,
                "Owner": {"name": owner.full_name, "id": owner.id, "zuid": owner.id[-8:]},
                "module": {"api_name": module, "id": MODULE_IDS[module]},
            },
            more_records=len(clash) > 1,
        )

    def _match(
        self,
        module: str,
        changes: dict[str, Any],
        checks: list[str],
        index: _Index,
        path: str,
    ) -> tuple[CrmRecord, str] | dict[str, Any] | None:
        """The record an upsert updates, a DUPLICATE_DATA error when ambiguous, or None."""
        for name in checks:
            value = changes.get(name)
            if value in (None, ""):
                continue
            found = index.matches(name, value)
            if len(found) == 1:
                return found[0], name
            if len(found) > 1:
                return self._duplicate_error(module, name, f"{path}.{name}", found)
        return None

    def _details(self, module: str, record: CrmRecord) -> dict[str, Any]:
        offset = self.store.config.time_offset_minutes

        def user(api_name: str) -> dict[str, str]:
            found = self.store.user_index(self.store.value(module, record, api_name))
            person = self.store.user(found if found is not None else -1)
            return {"id": person.id, "name": person.full_name}

        return {
            "Modified_Time": iso_time(record.modified, offset),
            "Modified_By": user("Modified_By"),
            "Created_Time": iso_time(record.created, offset),
            "id": record.id,
            "Created_By": user("Created_By"),
            "$approval_state": "approved",
        }


def batch_status(results: Sequence[Mapping[str, Any]], all_ok: int, mixed: int = 207) -> int:
    """The HTTP status of a write call: ``all_ok``, ``mixed`` or 400 when all failed."""
    ok = sum(1 for r in results if r.get("status") == "success")
    if ok == len(results):
        return all_ok
    return mixed if ok else 400


class CrmMutations:
    """Sandbox-side changes to CRM records (tests, the admin endpoint), validated like the API.

    Changes are made by the current user (the org's administrator) and stamp
    ``Modified_Time`` with the sandbox clock.
    """

    def __init__(self, store: CrmStore) -> None:
        self.store = store
        self.writer = CrmWriter(store)

    def _check(self, module: str) -> None:
        if module not in MODULES:
            raise CrmMutationError(f"The sandbox CRM has no module {module!r}; use {MODULES}.")

    def _run(self, module: str, mode: Mode, values: Mapping[str, Any]) -> str:
        self._check(module)
        user = self.store.data.current_user
        result = self.writer.write(module, mode, [dict(values)], user)[0]
        if result["status"] != "success":
            raise CrmMutationError(
                f"The CRM refused the change: {result['code']} {result['details']}."
            )
        return str(result["details"]["id"])

    def create(self, module: str, **values: Any) -> str:
        """Creates a record from API-shaped values (``Last_Name="Okafor"``); returns its id."""
        return self._run(module, "insert", values)

    def update(self, module: str, record_id: str, **values: Any) -> None:
        """Changes fields of a record (API-shaped values) and stamps it."""
        self._run(module, "update", {**values, "id": record_id})

    def delete(self, module: str, record_id: str) -> None:
        """Moves a record to the recycle bin (it then shows in ``/deleted``)."""
        self._check(module)
        result = self.writer.delete(module, [record_id], self.store.data.current_user)[0]
        if result["status"] != "success":
            raise CrmMutationError(f"There is no live {module} record with id {record_id!r}.")

    def restore(self, module: str, record_id: str) -> None:
        """Takes a record back out of the recycle bin (as a CRM user's *Restore* does).

        The record is live again and counts as modified now, so incremental reads see it.
        """
        self._check(module)
        with self.store.lock:
            record = self.store.get(module, record_id, include_deleted=True)
            if record is None or not record.deleted:
                raise CrmMutationError(
                    f"There is no {module} record with id {record_id!r} in the recycle bin."
                )
            self.store.restore(record, self.store.world.clock_now())

    def touch(self, module: str, record_id: str) -> None:
        """Stamps a record as modified now without changing a field."""
        self._run(module, "update", {"id": record_id})

    def apply(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """Applies one JSON change ``{"op", "module", "id"?, "fields"?}``; returns its id.

        ``op`` is ``create``, ``update``, ``delete``, ``restore`` or ``touch``.
        """
        op = change.get("op")
        module = str(change.get("module"))
        fields = dict(change.get("fields") or {})
        record_id = change.get("id")
        if op == "create":
            record_id = self.create(module, **fields)
        elif not isinstance(record_id, str):
            raise CrmMutationError(f"The {op} change needs the id of the {module} record.")
        elif op == "update":
            self.update(module, record_id, **fields)
        elif op == "delete":
            self.delete(module, record_id)
        elif op == "touch":
            self.touch(module, record_id)
        elif op == "restore":
            self.restore(module, record_id)
        else:
            raise CrmMutationError(
                f"{op!r} is not a change; use create, update, delete, restore or touch."
            )
        return {"id": record_id, "module": module}
