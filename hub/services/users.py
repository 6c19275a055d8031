"""Dashboard users of seed 004 (/v1/internal/users): in a tenant, no role above one's own.

Roles rank viewer < operator < admin < owner < platform_admin (seed 004's super_admin). A tenant
admin manages the users of their own tenant only; another tenant's user is "not found". Nobody
grants a role above their own, touches a user above their own role, or deletes themself.
"""

from __future__ import annotations

import asyncpg

from hub.domain import ROLES, Caller, Tenant, User
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.auth import dashboard_username, email_address, hash_password
from hub.storage.tenants import TenantRepository
from hub.storage.users import UserRepository

USER_NOT_FOUND = "User not found"
_RANK = {**{role: index for index, role in enumerate(ROLES)}, "platform_admin": len(ROLES)}
SEED_ROLES = {"super_admin": "platform_admin"}  # seed 004's names for ours


def role_name(value: str) -> str:
    """A role as seed 004 or we spell it, in our terms; 400 for anything else."""
    role = SEED_ROLES.get(value, value)
    if role not in _RANK:
        raise InvalidInput(f"user_role must be one of super_admin, {', '.join(reversed(ROLES))}")
    return role


def _may_hold(caller: Caller, role: str) -> None:
    if _RANK[role] > _RANK[caller.role]:
        raise Forbidden(f"You cannot grant a role above your own ({caller.role})")


def _may_touch(caller: Caller, user: User) -> None:
    if _RANK[user.role] > _RANK[caller.role]:
        raise Forbidden("You cannot change a user whose role is above your own")


def _checked(values: dict[str, object]) -> dict[str, object]:
    """Username, email, names and phone as they will be stored (types came from the edge)."""
    checked: dict[str, object] = {}
    for name, value in values.items():
        if name == "username":
            value = dashboard_username(str(value))
        elif name == "email" and value is not None:
            value = email_address(str(value))
        elif name in ("fullname", "phone") and value is not None:
            value = str(value).strip() or None
        checked[name] = value
    return checked


class UserService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, caller: Caller, tenant: Tenant | None, values: dict[str, object]
    ) -> User:
        """A user of ``tenant`` (None: a super admin, or a user waiting for a tenant)."""
        entry = AuditEntry(caller.actor, "create_user", tenant_id=tenant.id if tenant else None)
        entry.params = {"username": values.get("username"), "role": values.get("user_role")}
        async with audited(self._pool, entry):
            role = role_name(str(values.pop("user_role", None) or "viewer"))
            _may_hold(caller, role)
            if role == "platform_admin" and tenant is not None:
                raise InvalidInput("a super_admin belongs to no tenant: leave X-Tenant-ID out")
            if not values.get("username"):
                raise InvalidInput("username is required")
            password_hash = await hash_password(values.pop("password", None))
            fields = _checked(values)
            entry.target = str(fields["username"])
            async with self._pool.acquire() as conn, conn.transaction():
                user = await UserRepository(conn).create(
                    fields.get("email"),  # type: ignore[arg-type]
                    password_hash,
                    role,
                    tenant.id if tenant else None,
                    fields["username"],  # type: ignore[arg-type]
                    fullname=fields.get("fullname"),  # type: ignore[arg-type]
                    phone=fields.get("phone"),  # type: ignore[arg-type]
                )
                entry.details = {"user_id": user.id}
                await write_audit(conn, entry)
            entry.recorded = True
            return user

    async def get(self, scope: int | None, user_id: int) -> User:
        user = await UserRepository(self._pool).get(user_id, scope)
        if user is None:
            raise NotFound(USER_NOT_FOUND)
        return user

    async def list(self, scope: int | None, *, limit: int, offset: int) -> tuple[list[User], int]:
        return await UserRepository(self._pool).list(scope, limit=limit, offset=offset)

    async def update(
        self, caller: Caller, scope: int | None, user_id: int, values: dict[str, object]
    ) -> User:
        """Change the given fields; ``user_role`` and ``password`` too, by the same rules."""
        entry = AuditEntry(caller.actor, "update_user", tenant_id=scope, target=str(user_id))
        entry.params = {"fields": sorted(values)}
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                users = UserRepository(conn)
                user = await users.get(user_id, scope)
                if user is None:
                    raise NotFound(USER_NOT_FOUND)
                _may_touch(caller, user)
                changes = _checked(
                    {k: v for k, v in values.items() if k not in ("user_role", "password")}
                )
                if "user_role" in values:
                    role = role_name(str(values["user_role"]))
                    _may_hold(caller, role)
                    if (role == "platform_admin") != (user.tenant_id is None):
                        raise InvalidInput("only a user of no tenant can be a super_admin")
                    changes["role"] = role
                if "password" in values:
                    changes["password_hash"] = await hash_password(values["password"])
                if changes:
                    user = await users.update(user.id, changes) or user
                await write_audit(conn, entry)
            entry.recorded = True
            return user

    async def delete(self, caller: Caller, scope: int | None, user_id: int) -> None:
        entry = AuditEntry(caller.actor, "delete_user", tenant_id=scope, target=str(user_id))
        async with audited(self._pool, entry):
            if user_id == caller.user_id:
                raise InvalidInput("You cannot delete your own account")
            async with self._pool.acquire() as conn, conn.transaction():
                users = UserRepository(conn)
                user = await users.get(user_id, scope)
                if user is None:
                    raise NotFound(USER_NOT_FOUND)
                _may_touch(caller, user)
                await users.delete(user.id)
                await write_audit(conn, entry)
            entry.recorded = True

    async def assign_tenant(self, caller: Caller, user_id: int, tenant_id: int) -> User:
        """Super admins only (the permission says so): move a user into a tenant."""
        entry = AuditEntry(caller.actor, "assign_tenant", target=str(user_id))
        entry.params = {"tenant_id": tenant_id}
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                if await TenantRepository(conn).get(tenant_id) is None:
                    raise NotFound("Tenant not found")
                users = UserRepository(conn)
                user = await users.get(user_id, None)
                if user is None:
                    raise NotFound(USER_NOT_FOUND)
                if user.role == "platform_admin":
                    raise InvalidInput("a super_admin belongs to no tenant")
                user = await users.update(user.id, {"tenant_id": tenant_id}) or user
                entry.tenant_id = tenant_id
                await write_audit(conn, entry)
            entry.recorded = True
            return user
