"""HTTP request bodies of every face, as msgspec Structs: each field typed and bounded once.

``hub.web.handlers.read_body`` decodes a body into one of these; a value of the wrong type or out
of bounds is a 400 naming the field. ``type_errors`` / ``bound_errors`` give the exact text a
field's 400 carries where the seeds (or existing clients) know one; other fields get
"<field> is invalid: <reason>". Fields are optional here when the service words the "is
required" answer itself (and audits it); unknown fields are ignored, as clients send extras.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

import msgspec

from hub.errors import InvalidInput

MAX_BIGINT = 2**63 - 1
MAX_HOURS = 24 * 366
MIN_HOURS = 1 / 3600  # one second: less rounds to no access at all
# A hotspot or PPP name, a voucher code or an E.164 number; well under Postgres' index limit.
MAX_USERNAME = 256
MAX_MAC = 64
MAX_EMAIL = 254  # RFC 5321 path limit
MAX_PASSWORD = 1024  # argon2 hashes any length; this bounds the work per attempt

Username = Annotated[str, msgspec.Meta(max_length=MAX_USERNAME)]
MacText = Annotated[str, msgspec.Meta(max_length=MAX_MAC)]
RowId = Annotated[int, msgspec.Meta(ge=1, le=MAX_BIGINT)]
Hours = Annotated[float, msgspec.Meta(gt=0, le=MAX_HOURS)]
Email = Annotated[str, msgspec.Meta(max_length=MAX_EMAIL)]
Password = Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD)]

_USERNAME_TOO_LONG = f"username must be at most {MAX_USERNAME} characters"
_MAC_TYPE = "mac_address must be a string"
_MAC_TOO_LONG = f"mac_address must be at most {MAX_MAC} characters"


class Body(msgspec.Struct, kw_only=True):
    """Base of request bodies: per-field messages, and a hook for checks across fields."""

    action: ClassVar[str | None] = None  # the audited action a refused body is recorded as
    type_errors: ClassVar[dict[str, str]] = {}
    bound_errors: ClassVar[dict[str, str]] = {}

    def check(self) -> None:
        """Raise InvalidInput for what Meta cannot say; called once after decoding."""

    def given(self) -> dict[str, object]:
        """The fields the client sent (a partial update's defaults are ``msgspec.UNSET``)."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not msgspec.UNSET
        }


class DisconnectBody(Body):
    """POST .../disconnect-user/ (seed 001)."""

    username: Username | None = None
    mac_address: MacText | None = None

    action: ClassVar[str | None] = "disconnect_user"
    type_errors: ClassVar[dict[str, str]] = {
        "username": "username is required",
        "mac_address": _MAC_TYPE,
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "username": _USERNAME_TOO_LONG,
        "mac_address": _MAC_TOO_LONG,
    }


class AdminDisconnectBody(DisconnectBody):
    """POST /api/admin/mikrotik/disconnect-user/ (seed 001, admin face): router_id optional."""

    router_id: RowId | None = None

    type_errors: ClassVar[dict[str, str]] = {
        **DisconnectBody.type_errors,
        "router_id": "router_id must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        **DisconnectBody.bound_errors,
        "router_id": f"router_id must be between 1 and {MAX_BIGINT}",
    }


class GrantBody(Body):
    """POST /api/portal/users/grant-access/."""

    username: Username | None = None
    hours: Hours | None = None
    mac_address: MacText | None = None
    router_id: RowId | None = None

    action: ClassVar[str | None] = "grant_access"
    type_errors: ClassVar[dict[str, str]] = {
        "username": "username is required",
        "hours": "hours must be a number",
        "mac_address": _MAC_TYPE,
        "router_id": "router_id must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "username": _USERNAME_TOO_LONG,
        "hours": f"hours must be more than 0 and at most {MAX_HOURS}",
        "mac_address": _MAC_TOO_LONG,
        "router_id": f"router_id must be between 1 and {MAX_BIGINT}",
    }

    def check(self) -> None:
        if self.hours is not None and self.hours < MIN_HOURS:
            raise InvalidInput("hours must be at least 1/3600 (one second)")


class LoginBody(Body):
    """POST /api/admin/login: both fields required (argon2 runs only for a complete body)."""

    email: Email | None = None
    password: Password | None = None

    type_errors: ClassVar[dict[str, str]] = {
        "email": "email and password are required",
        "password": "email and password are required",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "email": f"email must be at most {MAX_EMAIL} characters",
        "password": f"password must be at most {MAX_PASSWORD} characters",
    }

    def check(self) -> None:
        if not self.email or not self.password:
            raise InvalidInput("email and password are required")


_ENROLL_FIELDS = {"token": 200, "device_key": 200, "hostname": 255, "agent_version": 64}
_WG_KEY = "wg_public_key must be a base64 Curve25519 public key"


class EnrollBody(Body):
    """POST /agent/v1/enroll: what a box sends to trade its one-time token (agent.enroll)."""

    token: Annotated[str, msgspec.Meta(max_length=_ENROLL_FIELDS["token"])] | None = None
    device_key: Annotated[str, msgspec.Meta(max_length=_ENROLL_FIELDS["device_key"])] | None = None
    hostname: Annotated[str, msgspec.Meta(max_length=_ENROLL_FIELDS["hostname"])] | None = None
    agent_version: Annotated[str, msgspec.Meta(max_length=_ENROLL_FIELDS["agent_version"])] | (
        None
    ) = None
    wg_public_key: Annotated[str, msgspec.Meta(max_length=64)] | None = None

    type_errors: ClassVar[dict[str, str]] = {
        **{key: f"{key} is required" for key in _ENROLL_FIELDS},
        "wg_public_key": _WG_KEY,
    }
    bound_errors: ClassVar[dict[str, str]] = {
        **{key: f"{key} is not valid" for key in _ENROLL_FIELDS},
        "wg_public_key": _WG_KEY,
    }

    def check(self) -> None:
        for key in _ENROLL_FIELDS:
            value = getattr(self, key)
            if value is None or not value.strip():
                raise InvalidInput(f"{key} is required")
            if not value.isprintable():
                raise InvalidInput(f"{key} is not valid")
            setattr(self, key, value.strip())
        if len(self.device_key or "") < 16:
            raise InvalidInput("device_key must be at least 16 characters")


# --- the billing face (seed 003) ----------------------------------------------------------------

Name = Annotated[str, msgspec.Meta(max_length=100)]
ShortText = Annotated[str, msgspec.Meta(max_length=64)]
Price = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class UserLoginBody(Body):
    """POST /api/auth/login (seed 003): a dashboard user's username (or email) and password."""

    username: Annotated[str, msgspec.Meta(max_length=MAX_EMAIL)] | None = None
    password: Password | None = None

    type_errors: ClassVar[dict[str, str]] = {
        "username": "username and password are required",
        "password": "username and password are required",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "username": f"username must be at most {MAX_EMAIL} characters",
        "password": f"password must be at most {MAX_PASSWORD} characters",
    }

    def check(self) -> None:
        if not self.username or not self.password:
            raise InvalidInput("username and password are required")


class PlanCreateBody(Body):
    """POST /api/plans/create (seed 003); the service words the rules beyond types and bounds."""

    name: Name | None = None
    speed: ShortText | None = None
    price: Price | None = None
    duration_value: Count | None = None
    duration_unit: ShortText | None = None
    connection_type: ShortText | None = None
    router_profile: ShortText | None = None
    on_expiry: ShortText = "cut"
    user_id: RowId | None = None

    action: ClassVar[str | None] = "create_plan"
    type_errors: ClassVar[dict[str, str]] = {
        "name": "name is required",
        "speed": "speed is required, like 5M/2M (download/upload)",
        "price": "price must be a positive integer",
        "duration_value": "duration_value must be an integer of at least 1",
        "duration_unit": "duration_unit must be HOURS, DAYS or MINUTES",
        "connection_type": "connection_type must be hotspot or pppoe",
        "router_profile": "router_profile must be a string",
        "on_expiry": "on_expiry must be cut or throttle",
        "user_id": "user_id must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "name": "name must be at most 100 characters",
        "price": "price must be a positive integer of at most 1000000000",
        "duration_value": "duration_value must be an integer of at least 1",
        "user_id": f"user_id must be between 1 and {MAX_BIGINT}",
    }


class TenantQuery(Body):
    """Seed 003's ``user_id``: the tenant a platform admin acts on (ignored for anyone else)."""

    user_id: RowId | None = None

    type_errors: ClassVar[dict[str, str]] = {"user_id": "user_id must be an integer"}
    bound_errors: ClassVar[dict[str, str]] = {
        "user_id": f"user_id must be between 1 and {MAX_BIGINT}"
    }


class PlanListQuery(TenantQuery):
    connection_type: ShortText | None = None


# --- the billing face's reports (seed 003) -----------------------------------------------------

PAYMENT_STATUS_ERROR = "status must be one of pending, completed, failed, expired"
MAX_PAGE = 1000  # transactions per page
MAX_CUSTOMERS_PAGE = 10_000
_OFFSET_ERROR = f"offset must be an integer between 0 and {MAX_BIGINT}"
_PERIOD_ERRORS = {
    name: f"{name} must be a date as YYYY-MM-DD" for name in ("start_date", "end_date")
}
_CUSTOMERS_ERRORS = {
    "limit": f"limit must be an integer between 1 and {MAX_CUSTOMERS_PAGE}",
    "offset": _OFFSET_ERROR,
}
_SUMMARY_ERRORS = {
    **_PERIOD_ERRORS,
    "router_id": f"router_id must be an integer between 1 and {MAX_BIGINT}",
}
_TRANSACTIONS_ERRORS = {
    **_SUMMARY_ERRORS,
    "status": PAYMENT_STATUS_ERROR,
    "limit": f"limit must be an integer between 1 and {MAX_PAGE}",
    "offset": _OFFSET_ERROR,
}


class CustomersQuery(TenantQuery):
    """GET /api/customers(/active): by id, a page at a time."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_CUSTOMERS_PAGE)] = MAX_CUSTOMERS_PAGE
    offset: Annotated[int, msgspec.Meta(ge=0, le=MAX_BIGINT)] = 0

    type_errors: ClassVar[dict[str, str]] = {**TenantQuery.type_errors, **_CUSTOMERS_ERRORS}
    bound_errors: ClassVar[dict[str, str]] = {**TenantQuery.bound_errors, **_CUSTOMERS_ERRORS}


class PeriodQuery(TenantQuery):
    """Local dates of the tenant's time zone, both included (GET /api/plans/performance)."""

    start_date: datetime.date | None = None
    end_date: datetime.date | None = None

    type_errors: ClassVar[dict[str, str]] = {**TenantQuery.type_errors, **_PERIOD_ERRORS}
    bound_errors: ClassVar[dict[str, str]] = {**TenantQuery.bound_errors, **_PERIOD_ERRORS}


class TransactionSummaryQuery(PeriodQuery):
    """GET /api/mpesa/transactions/summary: the period is of the transactions' created_at."""

    router_id: RowId | None = None

    type_errors: ClassVar[dict[str, str]] = {**TenantQuery.type_errors, **_SUMMARY_ERRORS}
    bound_errors: ClassVar[dict[str, str]] = {**TenantQuery.bound_errors, **_SUMMARY_ERRORS}


class TransactionsQuery(TransactionSummaryQuery):
    """GET /api/mpesa/transactions: newest first, ``limit`` (at most 1000) from ``offset``."""

    status: Literal["pending", "completed", "failed", "expired"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = 100
    offset: Annotated[int, msgspec.Meta(ge=0, le=MAX_BIGINT)] = 0

    type_errors: ClassVar[dict[str, str]] = {**TenantQuery.type_errors, **_TRANSACTIONS_ERRORS}
    bound_errors: ClassVar[dict[str, str]] = {
        **TenantQuery.bound_errors,
        **_TRANSACTIONS_ERRORS,
    }


# --- /v1 (seed 004) ------------------------------------------------------------------------------

Login = Annotated[str, msgspec.Meta(max_length=MAX_EMAIL)]
RefreshToken = Annotated[str, msgspec.Meta(max_length=64)]


class V1LoginBody(Body):
    """POST /v1/auth/login: email or username, and the password."""

    email: Login | None = None
    username: Login | None = None
    password: Password | None = None

    type_errors: ClassVar[dict[str, str]] = {
        "email": "email must be a string",
        "username": "username must be a string",
        "password": "password is required",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "email": f"email must be at most {MAX_EMAIL} characters",
        "username": f"username must be at most {MAX_EMAIL} characters",
        "password": f"password must be at most {MAX_PASSWORD} characters",
    }

    def check(self) -> None:
        if not (self.email or self.username):
            raise InvalidInput("email or username is required")
        if not self.password:
            raise InvalidInput("password is required")


class RefreshBody(Body):
    """POST /v1/auth/refresh and /v1/auth/logout."""

    refresh_token: RefreshToken | None = None

    type_errors: ClassVar[dict[str, str]] = {"refresh_token": "refresh_token is required"}
    bound_errors: ClassVar[dict[str, str]] = {"refresh_token": "refresh_token is not valid"}

    def check(self) -> None:
        if not self.refresh_token:
            raise InvalidInput("refresh_token is required")


class RegisterBody(Body):
    """POST /v1/auth/register (off unless the hub config enables it)."""

    username: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    email: Email | None = None
    password: Password | None = None
    fullname: Name | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None

    type_errors: ClassVar[dict[str, str]] = {
        "username": "username is required",
        "password": "password is required",
        "email": "email must be a string",
        "fullname": "fullname must be a string",
        "phone": "phone must be a string",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "username": "username must be at most 64 characters",
        "email": f"email must be at most {MAX_EMAIL} characters",
        "password": f"password must be at most {MAX_PASSWORD} characters",
        "fullname": "fullname must be at most 100 characters",
        "phone": "phone must be at most 32 characters",
    }

    def check(self) -> None:
        if not self.username:
            raise InvalidInput("username is required")
        if not self.password:
            raise InvalidInput("password is required")


FeatureValue = bool | int | float | Annotated[str, msgspec.Meta(max_length=200)]
Features = dict[Annotated[str, msgspec.Meta(max_length=64)], FeatureValue]
Limit = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class TenantBody(Body):
    """POST /v1/internal/tenant and PUT /v1/internal/tenant/{id} (partial: absent stays)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    subdomain: ShortText | msgspec.UnsetType = msgspec.UNSET
    company_name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    phone: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    timezone: ShortText | msgspec.UnsetType = msgspec.UNSET
    currency: Annotated[str, msgspec.Meta(max_length=3)] | msgspec.UnsetType = msgspec.UNSET
    country: Annotated[str, msgspec.Meta(max_length=2)] | msgspec.UnsetType = msgspec.UNSET
    max_mikrotiks: Limit | msgspec.UnsetType | None = msgspec.UNSET
    max_network_users: Limit | msgspec.UnsetType | None = msgspec.UNSET
    features: Features | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = {
        "name": "name must be at most 100 characters",
        "max_mikrotiks": "max_mikrotiks must be an integer from 0 to 10000000, or null",
        "max_network_users": "max_network_users must be an integer from 0 to 10000000, or null",
    }

    def values(self) -> dict[str, object]:
        """The fields given but the subdomain (it is the slug), under their column names."""
        given = self.given()
        given.pop("subdomain", None)
        if "country" in given:
            given["default_country"] = given.pop("country")
        return given


class V1Page(Body):
    """``limit`` / ``offset`` of a /v1 list (metadata echoes them)."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] = 0

    bound_errors: ClassVar[dict[str, str]] = {
        "limit": "limit must be from 1 to 1000",
        "offset": "offset must be from 0 to 1000000000",
    }


class TenantListQuery(V1Page):
    status: Annotated[str, msgspec.Meta(max_length=16)] | None = None  # active | inactive
    is_active: bool | None = None
    search: Annotated[str, msgspec.Meta(max_length=100)] | None = None

    def check(self) -> None:
        if self.status not in (None, "active", "inactive"):
            raise InvalidInput("status must be active or inactive")


class UserBody(Body):
    """POST /v1/internal/users and PUT /v1/internal/users/{id} (partial: absent stays)."""

    username: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    fullname: Name | msgspec.UnsetType | None = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    user_role: ShortText | msgspec.UnsetType = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = {
        "username": "username must be at most 64 characters",
        "email": f"email must be at most {MAX_EMAIL} characters",
        "password": f"password must be at most {MAX_PASSWORD} characters",
        "fullname": "fullname must be at most 100 characters",
        "phone": "phone must be at most 32 characters",
    }


class AssignRoleBody(Body):
    """POST /v1/internal/users/{id}/assign-role: a role name (seed 004 calls it role_id)."""

    role_id: ShortText | None = None

    type_errors: ClassVar[dict[str, str]] = {"role_id": "role_id is required"}

    def check(self) -> None:
        if not self.role_id:
            raise InvalidInput("role_id is required")


class AssignTenantBody(Body):
    tenant_id: RowId | None = None
    is_primary: bool = True

    type_errors: ClassVar[dict[str, str]] = {"tenant_id": "tenant_id must be a tenant id"}
    bound_errors: ClassVar[dict[str, str]] = {"tenant_id": "tenant_id must be a tenant id"}

    def check(self) -> None:
        if self.tenant_id is None:
            raise InvalidInput("tenant_id is required")


class PageQuery(V1Page):
    tenant_id: RowId | None = None  # super admins only: one tenant's users

    bound_errors: ClassVar[dict[str, str]] = {
        **V1Page.bound_errors,
        "tenant_id": "tenant_id must be a tenant id",
    }


# --- vouchers (issue 15) -----------------------------------------------------------------------
# Types and sizes here; the value rules (count 1..5000, alphabets, code space) are the voucher
# service's, which words each 400 itself (hub.services.vouchers).

_BATCH_INT = "{} must be an integer"


class VoucherBatchBody(Body):
    """POST /api/vouchers/batches."""

    plan_id: RowId | None = None
    count: int | None = None
    code_length: int | None = None
    alphabet: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    prefix: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    price: Decimal | None = None
    valid_days: int | None = None
    router_id: RowId | None = None
    hotspot_login_url: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    user_id: RowId | None = None  # a platform admin's tenant (seed 003); ignored for tenants

    action: ClassVar[str | None] = "create_voucher_batch"
    type_errors: ClassVar[dict[str, str]] = {
        **{
            name: _BATCH_INT.format(name)
            for name in ("plan_id", "count", "code_length", "valid_days", "router_id", "user_id")
        },
        "alphabet": "alphabet must be letters and digits (A-Z, a-z, 0-9)",
        "prefix": "prefix must be at most 8 letters and digits",
        "price": "price must be a number",
        "hotspot_login_url": "hotspot_login_url must be a URL of at most 255 characters",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "plan_id": f"plan_id must be between 1 and {MAX_BIGINT}",
        "router_id": f"router_id must be between 1 and {MAX_BIGINT}",
        "user_id": f"user_id must be between 1 and {MAX_BIGINT}",
        "alphabet": "alphabet must have 10 to 64 characters",
        "prefix": "prefix must be at most 8 letters and digits",
        "price": "price must be a number",  # a string that is not a decimal
        "hotspot_login_url": "hotspot_login_url must be a URL of at most 255 characters",
    }


class VoucherPageQuery(TenantQuery):
    """GET /api/vouchers/batches: a page of batches."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=MAX_BIGINT)] = 0

    type_errors: ClassVar[dict[str, str]] = {
        **TenantQuery.type_errors,
        "limit": "limit must be an integer",
        "offset": "offset must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        **TenantQuery.bound_errors,
        "limit": "limit must be between 1 and 500",
        "offset": "offset must be 0 or more",
    }


class VoucherListQuery(VoucherPageQuery):
    """GET /api/vouchers: a page of vouchers, of one batch and/or one status."""

    batch_id: RowId | None = None
    status: Annotated[str, msgspec.Meta(max_length=16)] | None = None

    type_errors: ClassVar[dict[str, str]] = {
        **VoucherPageQuery.type_errors,
        "batch_id": "batch_id must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        **VoucherPageQuery.bound_errors,
        "batch_id": f"batch_id must be between 1 and {MAX_BIGINT}",
        "status": "status must be one of unused, active, expired",
    }


MAX_PHONE = 64  # a phone number however typed ("+255 (0)712-345-678"), or a username for cash
_PAYMENT_TYPES = {
    "plan_id": "plan_id must be an integer",
    "phone": "phone must be a string",
    "router_id": "router_id must be an integer",
    "mac_address": _MAC_TYPE,
    "user_id": "user_id must be an integer",
}
_PAYMENT_BOUNDS = {
    "plan_id": f"plan_id must be between 1 and {MAX_BIGINT}",
    "phone": f"phone must be at most {MAX_PHONE} characters",
    "router_id": f"router_id must be between 1 and {MAX_BIGINT}",
    "mac_address": _MAC_TOO_LONG,
    "user_id": f"user_id must be between 1 and {MAX_BIGINT}",
}


class PaymentBody(Body):
    """POST /api/payments/mpesa/stk-push and /api/payments/cash: a plan bought for a customer
    (by phone; cash also by username) on a router. ``user_id``: the tenant, for platform admins."""

    plan_id: RowId | None = None
    phone: Annotated[str, msgspec.Meta(max_length=MAX_PHONE)] | None = None
    router_id: RowId | None = None
    mac_address: MacText | None = None
    user_id: RowId | None = None

    type_errors: ClassVar[dict[str, str]] = _PAYMENT_TYPES
    bound_errors: ClassVar[dict[str, str]] = _PAYMENT_BOUNDS

    def check(self) -> None:
        for name in ("plan_id", "phone", "router_id"):
            if getattr(self, name) is None:
                raise InvalidInput(f"{name} is required")


class StkPushBody(PaymentBody):
    action: ClassVar[str | None] = "payment_stk_push"


class CashBody(PaymentBody):
    action: ClassVar[str | None] = "payment_cash"


# --- devices (seed 004 section 5, /v1/internal/mikrotik) ---------------------------------------
# Types and sizes here; required fields and the site rule are the device service's 400s.

DeviceName = Annotated[str, msgspec.Meta(max_length=128)]  # wire.Name: the agent's router name
DeviceText = Annotated[str, msgspec.Meta(max_length=200)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class DeviceBody(Body):
    """POST /v1/internal/mikrotik (create) and PUT /v1/internal/mikrotik/{id} (partial)."""

    name: DeviceName | msgspec.UnsetType = msgspec.UNSET
    host: Annotated[str, msgspec.Meta(max_length=253)] | msgspec.UnsetType = msgspec.UNSET
    port: Port | msgspec.UnsetType | None = msgspec.UNSET
    api_username: DeviceName | msgspec.UnsetType = msgspec.UNSET
    api_password: Annotated[str, msgspec.Meta(max_length=256)] | msgspec.UnsetType = msgspec.UNSET
    location: DeviceText | msgspec.UnsetType | None = msgspec.UNSET
    tls: bool | msgspec.UnsetType | None = msgspec.UNSET
    agent_id: RowId | msgspec.UnsetType | None = msgspec.UNSET  # the site agent
    site: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = {
        "name": "name must be at most 128 characters",
        "host": "host must be at most 253 characters",
        "port": "port must be from 1 to 65535",
        "api_username": "api_username must be at most 128 characters",
        "api_password": "api_password must be at most 256 characters",
        "location": "location must be at most 200 characters",
        "agent_id": "agent_id must be a site agent id",
        "site": "site must be at most 64 characters",
    }


class DeviceListBody(V1Page):
    """POST /v1/internal/mikrotik/list: a page, optionally filtered."""

    search: Annotated[str, msgspec.Meta(max_length=100)] | None = None  # name, host, location
    status: Annotated[str, msgspec.Meta(max_length=16)] | None = None  # active | inactive
    site: Annotated[str, msgspec.Meta(max_length=64)] | None = None

    def check(self) -> None:
        if self.status not in (None, "active", "inactive"):
            raise InvalidInput("status must be active or inactive")


class DeviceStatusBody(Body):
    """PATCH /v1/internal/mikrotik/{id}/status."""

    status: Annotated[str, msgspec.Meta(max_length=16)] | None = None

    def check(self) -> None:
        if self.status is None:
            raise InvalidInput("status is required")
        if self.status not in ("active", "inactive"):
            raise InvalidInput("status must be active or inactive")


class DeviceOut(msgspec.Struct):
    """A device as /v1 answers it (seed 004's MikrotikResponse); never its password."""

    id: int
    name: str
    host: str
    port: int
    api_username: str | None
    location: str | None
    status: str
    managed: bool
    tls: bool
    agent_id: int
    site: str
    online: bool
    last_seen: str | None
    created_at: str
    updated_at: str
