"""Payment providers: the interface the payment service uses, and M-Pesa (Daraja) behind it."""

from hub.payments.daraja import DarajaProvider, DarajaSettings
from hub.payments.provider import (
    InvalidCallback,
    PaymentProvider,
    PaymentProviderError,
    PaymentResult,
    PaymentStatus,
    ProviderError,
    StkAccepted,
    StkRequest,
)

__all__ = [
    "DarajaProvider",
    "DarajaSettings",
    "InvalidCallback",
    "PaymentProvider",
    "PaymentProviderError",
    "PaymentResult",
    "PaymentStatus",
    "ProviderError",
    "StkAccepted",
    "StkRequest",
]
