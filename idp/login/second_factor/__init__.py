"""Second-factor step (L4, L5, L6, X1, X2) as one blueprint, ``twofactor``: enrollment (SMS
first, or an authenticator app), the challenges, the recovery code, passkeys and "remember
this browser". Every view is guarded by ``@step("second_factor", user=True)``, so none can be
skipped or reached out of turn.

- :mod:`.flow` — the blueprint, the page, a verified factor and the step's end;
- :mod:`.attempts` — the hourly limits on wrong codes and recovery codes;
- :mod:`.enroll` — the step's entry and enrollment (L4, L5);
- :mod:`.sms`, :mod:`.authenticator`, :mod:`.recovery`, :mod:`.passkey` — one factor each.
"""

from __future__ import annotations

from idp.login.second_factor import authenticator
from idp.login.second_factor import enroll
from idp.login.second_factor import passkey
from idp.login.second_factor import recovery
from idp.login.second_factor import sms
from idp.login.second_factor.flow import bp

#: The modules whose views the blueprint holds (imported for their routes).
VIEW_MODULES = (authenticator, enroll, passkey, recovery, sms)

__all__ = ["VIEW_MODULES", "bp"]
