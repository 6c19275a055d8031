"""What the payment service asks of a payment provider, whichever it is (M-Pesa first).

A provider starts a payment on the customer's phone (``stk_push``), reads its outcome from the
provider's callback (``parse_callback``) or asks for it when no callback came (``query``). It
knows nothing of tenants, plans or storage: the payment service does.

PaymentProviderError
├── ProviderError     the provider refused or could not be reached; ``retryable`` says whether
│                     the same call may succeed later (timeouts, connection errors, 5xx)
└── InvalidCallback   a callback body that is not valid JSON of the expected shape
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

PaymentStatus = Literal["completed", "failed", "pending"]


@dataclass(frozen=True, slots=True)
class StkRequest:
    """A payment prompt to send to the customer's phone."""

    amount: int  # whole currency units: M-Pesa has no cents
    phone: str  # E.164 digits without '+', e.g. "254712345678"
    account_reference: str  # <= 12 characters, shown to the customer
    description: str  # <= 13 characters
    callback_url: str  # where the provider posts the outcome


@dataclass(frozen=True, slots=True)
class StkAccepted:
    """The provider accepted the prompt; the outcome comes later, by callback or query."""

    checkout_request_id: str
    merchant_request_id: str
    customer_message: str


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """The outcome of one payment, from a callback or a status query.

    ``pending``: the provider is still processing. A query never carries amount, receipt,
    phone or time (None); a completed callback carries all four.
    """

    checkout_request_id: str
    status: PaymentStatus
    result_code: int | None
    result_desc: str
    amount: int | None = None
    receipt: str | None = None
    phone: str | None = None
    paid_at: datetime | None = None  # aware UTC


class PaymentProvider(Protocol):
    """One payment provider; the payment service holds one per configured account."""

    name: str  # "mpesa"

    async def stk_push(self, request: StkRequest) -> StkAccepted:
        """Send the prompt; raises ProviderError."""
        ...

    async def query(self, checkout_request_id: str) -> PaymentResult:
        """Ask for the outcome; raises ProviderError."""
        ...

    def parse_callback(self, body: bytes) -> PaymentResult:
        """Read a callback body; raises InvalidCallback."""
        ...

    async def close(self) -> None:
        """Release what the provider opened (its HTTP session)."""
        ...


class PaymentProviderError(Exception):
    """Something went wrong with a payment provider."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class ProviderError(PaymentProviderError):
    """The payment provider refused the call or could not be reached."""

    def __init__(
        self, message: str | None = None, *, retryable: bool, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code  # the provider's own error code, when it sent one


class InvalidCallback(PaymentProviderError):
    """The callback body is not one the provider sends."""
