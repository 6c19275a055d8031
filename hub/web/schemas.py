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
    language: Literal["en", "sw"] | msgspec.UnsetType = msgspec.UNSET
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


# --- the operator dashboard (hub/web/dashboard) ------------------------------------------------
# Its forms post application/x-www-form-urlencoded (read with handlers.read_form); its buttons
# post JSON (read_body). The tenant is always the signed-in user's own: no user_id here.


class DashboardLoginBody(UserLoginBody):
    """POST /dashboard/login: a username or email, and the password; ``next`` is where to go."""

    next: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class LanguageBody(Body):
    """POST /dashboard/language: the page language, kept in the ``lang`` cookie."""

    lang: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    next: Annotated[str, msgspec.Meta(max_length=200)] | None = None

    type_errors: ClassVar[dict[str, str]] = {"lang": "lang must be en or sw"}
    bound_errors: ClassVar[dict[str, str]] = {"lang": "lang must be en or sw"}


class DashboardPlanBody(PlanCreateBody):
    """POST /dashboard/plans: a new plan, the fields of POST /api/plans/create."""


class DashboardVoucherBody(VoucherBatchBody):
    """POST /dashboard/vouchers: a new batch, the fields of POST /api/vouchers/batches."""


class DashboardTransactionsQuery(Body):
    """GET /dashboard/transactions: the filters of /api/mpesa/transactions, one page."""

    router_id: RowId | None = None
    status: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    start_date: datetime.date | None = None
    end_date: datetime.date | None = None
    offset: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0

    type_errors: ClassVar[dict[str, str]] = {
        "router_id": "router_id must be an integer",
        "start_date": "start_date must be a date (YYYY-MM-DD)",
        "end_date": "end_date must be a date (YYYY-MM-DD)",
        "offset": "offset must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "router_id": f"router_id must be between 1 and {MAX_BIGINT}",
        "status": "status must be completed, pending, failed or expired",
        "start_date": "start_date must be a date (YYYY-MM-DD)",
        "end_date": "end_date must be a date (YYYY-MM-DD)",
        "offset": "offset must be between 0 and 1000000",
    }

    def check(self) -> None:
        if self.status is not None and self.status not in (
            "completed",
            "pending",
            "failed",
            "expired",
        ):
            raise InvalidInput("status must be completed, pending, failed or expired")


class DashboardPageQuery(Body):
    """GET /dashboard/customers and /dashboard/vouchers: one page of a list."""

    offset: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0

    type_errors: ClassVar[dict[str, str]] = {"offset": "offset must be an integer"}
    bound_errors: ClassVar[dict[str, str]] = {"offset": "offset must be between 0 and 1000000"}


class UsageQuery(Body):
    """GET /dashboard/usage: which router (default the first) over how many days."""

    router_id: RowId | None = None
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 14

    type_errors: ClassVar[dict[str, str]] = {
        "router_id": "router_id must be an integer",
        "days": "days must be an integer",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "router_id": f"router_id must be between 1 and {MAX_BIGINT}",
        "days": "days must be between 1 and 366",
    }


# --- /v1 router resources (seed 004 sections 6, 7): RouterOS values, snake_case keys ----------
# Partial bodies: a field not given is left as the router has it. Each field is the RouterOS
# property of the same name in kebab case (local_address -> local-address); the router checks
# the values (an unknown profile or a bad range comes back as its own 400 message).

RouterName = Annotated[str, msgspec.Meta(max_length=255)]
RouterValue = Annotated[str, msgspec.Meta(max_length=255)]
RouterScript = Annotated[str, msgspec.Meta(max_length=4096)]  # on-up / on-down
ByteLimit = Annotated[int, msgspec.Meta(ge=0, le=MAX_BIGINT)]
_Value = RouterValue | msgspec.UnsetType
_VALUE_BOUND = "{} must be at most 255 characters"


def _bounds(*names: str) -> dict[str, str]:
    return {name: _VALUE_BOUND.format(name) for name in names}


class PppSecretBody(Body):
    """POST /v1/internal/ppp/secret (name required), PUT .../{id}: seed 004 model.PPPSecretInput."""

    name: RouterName | msgspec.UnsetType = msgspec.UNSET
    password: RouterValue | msgspec.UnsetType = msgspec.UNSET  # write-only: never answered
    profile: _Value = msgspec.UNSET
    service: (
        Literal["any", "async", "l2tp", "ovpn", "pppoe", "pptp", "sstp"] | msgspec.UnsetType
    ) = msgspec.UNSET
    caller_id: _Value = msgspec.UNSET
    local_address: _Value = msgspec.UNSET
    remote_address: _Value = msgspec.UNSET
    routes: _Value = msgspec.UNSET
    limit_bytes_in: ByteLimit | msgspec.UnsetType = msgspec.UNSET
    limit_bytes_out: ByteLimit | msgspec.UnsetType = msgspec.UNSET
    comment: _Value = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = _bounds(
        "name", "password", "profile", "caller_id", "local_address", "remote_address", "routes",
        "comment",
    )  # fmt: skip


class PppProfileBody(Body):
    """POST /v1/internal/ppp/profile and PUT .../{id} (seed's model.PPPProfileInput)."""

    name: RouterName | msgspec.UnsetType = msgspec.UNSET
    local_address: _Value = msgspec.UNSET
    remote_address: _Value = msgspec.UNSET  # an address or a pool name ("pool-pppoe")
    rate_limit: _Value = msgspec.UNSET  # "10M/10M"
    only_one: Literal["default", "no", "yes"] | msgspec.UnsetType = msgspec.UNSET
    session_timeout: _Value = msgspec.UNSET
    idle_timeout: _Value = msgspec.UNSET
    use_encryption: Literal["default", "no", "yes", "required"] | msgspec.UnsetType = msgspec.UNSET
    dns_server: _Value = msgspec.UNSET
    address_list: _Value = msgspec.UNSET
    on_up: RouterScript | msgspec.UnsetType = msgspec.UNSET
    on_down: RouterScript | msgspec.UnsetType = msgspec.UNSET
    comment: _Value = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = {
        **_bounds(
            "name", "local_address", "remote_address", "rate_limit", "session_timeout",
            "idle_timeout", "dns_server", "address_list", "comment",
        ),
        "on_up": "on_up must be at most 4096 characters",
        "on_down": "on_down must be at most 4096 characters",
    }  # fmt: skip


class IpPoolBody(Body):
    """POST /v1/internal/pool (name and ranges required) and PUT /v1/internal/pool/{id}."""

    name: RouterName | msgspec.UnsetType = msgspec.UNSET
    ranges: Annotated[str, msgspec.Meta(max_length=1024)] | msgspec.UnsetType = msgspec.UNSET
    next_pool: _Value = msgspec.UNSET  # another pool's name, or "none"
    comment: _Value = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = {
        **_bounds("name", "next_pool", "comment"),
        "ranges": "ranges must be at most 1024 characters",
    }


class SimpleQueueBody(Body):
    """POST /v1/internal/queue (target required) and PUT /v1/internal/queue/{id}."""

    name: RouterName | msgspec.UnsetType = msgspec.UNSET
    target: _Value = msgspec.UNSET  # "10.0.0.50/32" or an interface
    dst: _Value = msgspec.UNSET
    parent: _Value = msgspec.UNSET
    priority: _Value = msgspec.UNSET  # "8/8"
    queue: _Value = msgspec.UNSET  # "default-small/default-small"
    limit_at: _Value = msgspec.UNSET  # "upload/download": "5M/10M"
    max_limit: _Value = msgspec.UNSET
    burst_limit: _Value = msgspec.UNSET
    burst_threshold: _Value = msgspec.UNSET
    burst_time: _Value = msgspec.UNSET  # "8s/8s"
    comment: _Value = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET

    bound_errors: ClassVar[dict[str, str]] = _bounds(
        "name", "target", "dst", "parent", "priority", "queue", "limit_at", "max_limit",
        "burst_limit", "burst_threshold", "burst_time", "comment",
    )  # fmt: skip


class RouterQuery(Body):
    """``?device_id=``: which of the tenant's routers a router call acts on (v1_router)."""

    device_id: RowId | None = None

    bound_errors: ClassVar[dict[str, str]] = {"device_id": "device_id must be a device id"}
    type_errors: ClassVar[dict[str, str]] = {"device_id": "device_id must be a device id"}


class StreamQuery(RouterQuery):
    """A /v1 WebSocket's query: the router, and the one-use ticket of a browser (or send the
    ticket as the subprotocols ``ispfleet.ticket, <ticket>``, or use Authorization)."""

    ticket: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class PppoeEventBody(Body):
    """POST /v1/callbacks/pppoe/up and /down (seed 004's model.PPPoEEventInput), plus ``id``:
    the session's /ppp/active id (the printed script sends it; required on up)."""

    name: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    caller_id: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    interface: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    local_address: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    remote_address: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    service: Annotated[str, msgspec.Meta(max_length=16)] | None = None

    type_errors: ClassVar[dict[str, str]] = {"name": "name is required"}

    def check(self) -> None:
        if not self.name:
            raise InvalidInput("name is required")
        if self.id and not (
            self.id.startswith("*") and all(c in "0123456789ABCDEFabcdef" for c in self.id[1:])
        ):
            raise InvalidInput("id must be the session's /ppp/active id, like *80000077")


# --- the captive portal (public: hub/web/captive.py) ----------------------------------------

MAX_IP = 64
MAX_LOGIN_URL = 255
MAX_ORIGINAL_URL = 2048
MAX_ROUTER_ERROR = 200
MAX_PHONE = 32
MAX_TOKEN = 128

IpText = Annotated[str, msgspec.Meta(max_length=MAX_IP)]


class CaptiveQuery(Body):
    """What the router's login.html passes on (RouterOS hotspot variables): the client's
    ``$(mac)`` and ``$(ip)``, this hub's id of the router, ``$(link-login-only)`` (where a
    voucher code is posted), ``$(link-orig)`` and ``$(error)``; ``state=online`` after a
    login on the router (its alogin.html); ``lang`` picks the page's language."""

    mac: MacText | None = None
    ip: IpText | None = None
    router: RowId | None = None
    link_login_only: Annotated[str, msgspec.Meta(max_length=MAX_LOGIN_URL)] | None = msgspec.field(
        default=None, name="link-login-only"
    )
    link_orig: Annotated[str, msgspec.Meta(max_length=MAX_ORIGINAL_URL)] | None = msgspec.field(
        default=None, name="link-orig"
    )
    error: Annotated[str, msgspec.Meta(max_length=MAX_ROUTER_ERROR)] | None = None
    state: Literal["online"] | None = None
    lang: Annotated[str, msgspec.Meta(max_length=8)] | None = None

    type_errors: ClassVar[dict[str, str]] = {"router": "router must be the router's id (a number)"}
    bound_errors: ClassVar[dict[str, str]] = {
        "mac": f"mac must be at most {MAX_MAC} characters",
        "ip": f"ip must be at most {MAX_IP} characters",
        "router": f"router must be between 1 and {MAX_BIGINT}",
        "link-login-only": f"link-login-only must be at most {MAX_LOGIN_URL} characters",
        "link-orig": f"link-orig must be at most {MAX_ORIGINAL_URL} characters",
        "error": f"error must be at most {MAX_ROUTER_ERROR} characters",
        "state": "state must be online",
        "lang": "lang must be a language code",
    }


class CaptivePayBody(Body):
    """POST /hotspot/{tenant}/pay: a plan paid by M-Pesa for this client on its router."""

    plan_id: RowId | None = None
    phone: Annotated[str, msgspec.Meta(max_length=MAX_PHONE)] | None = None
    mac: MacText | None = None
    ip: IpText | None = None
    router: RowId | None = None

    type_errors: ClassVar[dict[str, str]] = {
        "plan_id": "plan_id must be a plan's id (a number)",
        "phone": "phone must be a string",
        "mac": "mac must be a string",
        "ip": "ip must be a string",
        "router": "router must be the router's id (a number)",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "plan_id": "plan_id is not a plan of this hotspot",
        "phone": f"phone must be at most {MAX_PHONE} characters",
        "mac": f"mac must be at most {MAX_MAC} characters",
        "ip": f"ip must be at most {MAX_IP} characters",
        "router": "router is not a router of this hotspot",
    }


# --- billing profiles, customers, client operations (seed 004 sections 4, 8, 9) ----------------
# Types and sizes here; the value rules (rate limits, addresses, phone numbers, the profile's
# type against the service) are the services' (hub.services.profiles, hub.services.subscribers).

RouterOsName = Annotated[str, msgspec.Meta(max_length=64)]
Secret = Annotated[str, msgspec.Meta(max_length=128)]
BillingDay = Annotated[int, msgspec.Meta(ge=1, le=28)]
MAX_CLIENT_BATCH = 500


class ProfileBody(Body):
    """POST /v1/internal/profile and PUT /v1/internal/profile/{id} (partial: absent stays)."""

    name: RouterOsName | msgspec.UnsetType = msgspec.UNSET
    type: ShortText | msgspec.UnsetType = msgspec.UNSET  # pppoe | hotspot
    price: Decimal | msgspec.UnsetType = msgspec.UNSET  # tenant's currency; 0..1e9, cents
    rate_limit: ShortText | msgspec.UnsetType = msgspec.UNSET  # "50M/50M"
    local_address: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    remote_address: ShortText | msgspec.UnsetType | None = msgspec.UNSET  # IP or pool name

    action: ClassVar[str | None] = "billing_profile"
    type_errors: ClassVar[dict[str, str]] = {
        "name": "name must be a string",
        "type": "type must be pppoe or hotspot",
        "price": "price must be a number",
        "rate_limit": "rate_limit must be a string like 50M/50M",
        "local_address": "local_address must be an IP address",
        "remote_address": "remote_address must be an IP address or an IP pool name",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "name": "name must be at most 64 characters",
        "price": "price must be a number",  # an unreadable decimal string
        "rate_limit": "rate_limit must be at most 64 characters",
        "local_address": "local_address must be at most 64 characters",
        "remote_address": "remote_address must be at most 64 characters",
    }


class CustomerBody(Body):
    """POST /v1/internal/customer, PUT /v1/internal/customer/{id} (partial) and each item of
    POST /v1/internal/client-upsert. The password is write-only."""

    username: RouterOsName | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType | None = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    password: Secret | msgspec.UnsetType = msgspec.UNSET
    profile_id: RowId | msgspec.UnsetType = msgspec.UNSET
    service_type: ShortText | msgspec.UnsetType = msgspec.UNSET  # pppoe | hotspot
    billing_day: BillingDay | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    device_id: RowId | msgspec.UnsetType = msgspec.UNSET  # the router; default: v1_router

    # No refused-body audit (Body.action): its raw text would keep the password.
    type_errors: ClassVar[dict[str, str]] = {
        "username": "username must be a string",
        "name": "name must be a string",
        "phone": "phone must be a string",
        "password": "password must be a string",
        "profile_id": "profile_id must be a billing profile id",
        "service_type": "service_type must be pppoe or hotspot",
        "billing_day": "billing_day must be a day of the month from 1 to 28",
        "is_active": "is_active must be true or false",
        "device_id": "device_id must be a device id",
    }
    bound_errors: ClassVar[dict[str, str]] = {
        "username": "username must be at most 64 characters",
        "name": "name must be at most 100 characters",
        "phone": "phone must be at most 32 characters",
        "password": "password must be at most 128 characters",
        "profile_id": "profile_id must be a billing profile id",
        "billing_day": "billing_day must be a day of the month from 1 to 28",
        "device_id": "device_id must be a device id",
    }


CustomerItems = Annotated[list[CustomerBody], msgspec.Meta(max_length=MAX_CLIENT_BATCH)]
Usernames = Annotated[list[RouterOsName], msgspec.Meta(max_length=MAX_CLIENT_BATCH)]


class ClientFilterBody(V1Page):
    """POST /v1/internal/client-find (seed 004's model.ClientFilter); absent: any."""

    username: RouterOsName | None = None
    usernames: Usernames | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    profile_id: RowId | None = None
    service_type: ShortText | None = None
    is_active: bool | None = None
    search: Annotated[str, msgspec.Meta(max_length=100)] | None = None

    bound_errors: ClassVar[dict[str, str]] = {
        **V1Page.bound_errors,
        "username": "username must be at most 64 characters",
        "usernames": f"usernames must be at most {MAX_CLIENT_BATCH} names of at most 64 characters",
        "phone": "phone must be at most 32 characters",
        "profile_id": "profile_id must be a billing profile id",
        "search": "search must be at most 100 characters",
    }

    def check(self) -> None:
        if self.service_type not in (None, "pppoe", "hotspot"):
            raise InvalidInput("service_type must be pppoe or hotspot")


class CustomerListQuery(V1Page):
    """GET /v1/internal/customer/list: one page, optionally narrowed like client-find."""

    profile_id: RowId | None = None
    service_type: ShortText | None = None
    is_active: bool | None = None
    search: Annotated[str, msgspec.Meta(max_length=100)] | None = None

    bound_errors: ClassVar[dict[str, str]] = {
        **V1Page.bound_errors,
        "profile_id": "profile_id must be a billing profile id",
        "search": "search must be at most 100 characters",
    }

    def check(self) -> None:
        if self.service_type not in (None, "pppoe", "hotspot"):
            raise InvalidInput("service_type must be pppoe or hotspot")


class ClientDeleteBody(Body):
    """DELETE /v1/internal/client-delete: the usernames to delete (or ``?username=`` / a
    comma-separated ``?usernames=`` in the query)."""

    username: RouterOsName | None = None
    usernames: Usernames | None = None

    bound_errors: ClassVar[dict[str, str]] = {
        "username": "username must be at most 64 characters",
        "usernames": f"usernames must be at most {MAX_CLIENT_BATCH} names of at most 64 characters",
    }

    def names(self) -> list[str]:
        """The named usernames, each once, in the order given."""
        names = ([self.username] if self.username else []) + (self.usernames or [])
        return list(dict.fromkeys(names))


class ClientDeleteQuery(Body):
    username: RouterOsName | None = None
    usernames: Annotated[str, msgspec.Meta(max_length=MAX_CLIENT_BATCH * 65)] | None = None

    bound_errors: ClassVar[dict[str, str]] = ClientDeleteBody.bound_errors

    def names(self) -> list[str]:
        listed = [name.strip() for name in (self.usernames or "").split(",") if name.strip()]
        if any(len(name) > 64 for name in listed):
            raise InvalidInput(ClientDeleteBody.bound_errors["username"])
        return list(dict.fromkeys(([self.username] if self.username else []) + listed))


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
