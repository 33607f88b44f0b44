"""Readers' accounts: sign-in by mailed link, sessions, API tokens, deleting an account, and what
operators do (add, disable, enable, list, make a sign-in link).

Asking for a sign-in link has one outcome a visitor can see, whatever the address: known,
unknown, disabled or over a rate limit. Only the mail differs: it is queued (with its link
record, in one transaction) or not, and a refusal is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from papercast.clock import Clock
from papercast.domain.accounts import (
    API_TOKEN_PREFIX,
    API_TOKEN_SHOWN,
    RATE_WINDOW,
    SESSION_TOUCH_INTERVAL,
    SIGN_IN_PURPOSE,
    ApiTokenInfo,
    Reader,
    Scope,
    SessionInfo,
    SignInPolicy,
    User,
    UserState,
    normalise_email,
    token_name,
    user_agent_summary,
)
from papercast.domain.errors import Conflict, InvalidInput, NotAllowed, NotFound
from papercast.domain.mail import MailRequest
from papercast.domain.tokens import TokenSigner, new_secret, secret_hash
from papercast.domain.votes import address_group
from papercast.ports import AccountReading, AccountRecords, MailQueue, Transaction, UnitOfWork
from papercast.services.links import LinkLimits, SingleUseLinks

log = logging.getLogger("papercast.accounts")

SIGN_IN_TEMPLATE = "sign-in"
SEND_MAIL_JOB = "send-mail"
# Expired links are kept this long past their end (rate limits count them for RATE_WINDOW).
LINK_KEEP = RATE_WINDOW * 24


def sign_in_path(token: str) -> str:
    """Where a sign-in link points (the token is URL-safe as it is)."""
    return f"/sign-in/confirm?token={token}"


@dataclass(frozen=True)
class NewSession:
    """A session just started: the cookie's token (shown to the browser once) and whose it is."""

    token: str
    user: User
    expires_at: datetime


class AccountService:
    """Accounts over the unit of work (writes), the account store (reads) and the mail queue."""

    def __init__(self, units: UnitOfWork, store: AccountReading, mail: MailQueue, signer: TokenSigner,
                 clock: Clock, policy: SignInPolicy) -> None:
        self._units = units
        self._store = store
        self._mail = mail
        self._signer = signer
        self._clock = clock
        self.policy = policy
        self._links = SingleUseLinks(signer, clock)

    # -- signing in --------------------------------------------------------------------------

    def request_sign_in(self, email_text: str, requester: str) -> None:
        """Mail a sign-in link to the address, when it may have one. A malformed address is
        `InvalidInput` (that says nothing about accounts); every other outcome is silent."""
        email = normalise_email(email_text)
        # Counted by network (an IPv6 client rotates through its /64), as votes and subscriptions are.
        requester_hash = self._signer.digest("requester", address_group(requester))
        with self._units.begin() as transaction:
            records = transaction.accounts
            refusal = self._refusal(records, email, requester_hash)
            if refusal:
                log.warning("accounts.sign_in_refused reason=%s requester=%s", refusal, requester_hash[:12])
                return
            token = self._links.issue(records, SIGN_IN_PURPOSE, email, self.policy.link_max_age,
                                      requester_hash)
            self._queue_sign_in_mail(transaction, email, token)
        log.info("accounts.sign_in_mailed requester=%s", requester_hash[:12])

    def _refusal(self, records: AccountRecords, email: str, requester_hash: str) -> str | None:
        """Why no link goes to `email` now, or None."""
        policy = self.policy
        limits = LinkLimits(policy.per_address_per_hour, RATE_WINDOW, policy.per_ip_per_hour, RATE_WINDOW)
        limited = self._links.refusal(records, SIGN_IN_PURPOSE, email, requester_hash, limits)
        if limited:
            return limited
        user = records.user_by_email(email)
        if user is None:
            return None if self.policy.open_sign_up else "unknown-address-sign-up-closed"
        return None if user.state is UserState.ACTIVE else f"account-{user.state.value}"

    def _queue_sign_in_mail(self, transaction: Transaction, email: str, token: str) -> None:
        minutes = int(self.policy.link_max_age.total_seconds() // 60)
        request = MailRequest(to=email, template=SIGN_IN_TEMPLATE,
                              context={"path": sign_in_path(token), "minutes": minutes},
                              not_after=self._clock.now() + self.policy.link_max_age)
        try:
            self._mail.enqueue(transaction.connection, request)
        except InvalidInput as error:  # the address passed already: the set-up is wrong, not the input
            raise RuntimeError(f"the sign-in mail could not be queued ({error}): check the mail settings") \
                from error
        # Wakes this process's worker at the commit: a reader is waiting for this mail.
        transaction.jobs.enqueue(SEND_MAIL_JOB)

    def check_sign_in_link(self, token: str) -> str:
        """The address a sign-in link is for, if it can still be used (it is not used up here)."""
        with self._store.reading() as records:
            return self._links.check(records, SIGN_IN_PURPOSE, token, self.policy.link_max_age).subject

    def sign_in(self, token: str, user_agent: str, replacing: str | None = None) -> NewSession:
        """Use a sign-in link and start a session (ending the session `replacing`, the browser's
        old one, if any: a session token is never carried across a sign-in). An address without
        an account gets one now, if sign-up is open."""
        now = self._clock.now()
        with self._units.begin() as transaction:
            records = transaction.accounts
            link = self._links.redeem(records, SIGN_IN_PURPOSE, token, self.policy.link_max_age)
            user = self._account_for(records, link.subject, now)
            if replacing:
                records.delete_session(secret_hash(replacing))
            session_token = new_secret()
            expires_at = now + self.policy.session_lifetime
            records.add_session(user.id, secret_hash(session_token), now, expires_at,
                                user_agent_summary(user_agent))
            records.record_sign_in(user.id, now)
        log.info("accounts.signed_in user=%d", user.id)
        return NewSession(session_token, user, expires_at)

    def _account_for(self, records: AccountRecords, email: str, now: datetime) -> User:
        user = records.user_by_email(email)
        if user is None:
            if not self.policy.open_sign_up:
                raise NotAllowed("this papercast only lets in the readers its operator added")
            user = records.add_user(email, now) or records.user_by_email(email)
            assert user is not None  # added now, or by a request racing this one
        if user.state is not UserState.ACTIVE:
            raise NotAllowed("this account is disabled; ask the operator of this papercast")
        return user

    # -- who is asking -----------------------------------------------------------------------

    def reader_for_session(self, token: str) -> Reader | None:
        """The reader a session cookie stands for, or None (unknown, expired, account not active)."""
        now = self._clock.now()
        with self._store.reading() as records:
            found = records.session_reader(secret_hash(token), now)
        if found is None:
            return None
        reader, last_seen = found
        if now - last_seen >= SESSION_TOUCH_INTERVAL:
            with self._units.begin() as transaction:
                transaction.accounts.touch_session(reader.credential_id, now)
        return reader

    def reader_for_api_token(self, token: str) -> Reader | None:
        """The reader an API token stands for, or None (unknown, revoked, account not active)."""
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        now = self._clock.now()
        with self._store.reading() as records:
            found = records.token_reader(secret_hash(token))
        if found is None:
            return None
        reader, last_used = found
        if last_used is None or now - last_used >= SESSION_TOUCH_INTERVAL:
            with self._units.begin() as transaction:
                transaction.accounts.touch_api_token(reader.credential_id, now)
        return reader

    # -- a reader's own account --------------------------------------------------------------

    def sign_out(self, session_token: str) -> None:
        with self._units.begin() as transaction:
            transaction.accounts.delete_session(secret_hash(session_token))

    def sign_out_everywhere(self, user_id: int) -> int:
        """End every session of the account (API tokens stay: they are revoked one by one)."""
        with self._units.begin() as transaction:
            ended = transaction.accounts.delete_sessions(user_id)
        log.info("accounts.signed_out_everywhere user=%d sessions=%d", user_id, ended)
        return ended

    def sessions(self, user_id: int) -> list[SessionInfo]:
        with self._store.reading() as records:
            return records.sessions_of(user_id, self._clock.now())

    def create_api_token(self, user_id: int, name: str, scope: Scope) -> tuple[str, ApiTokenInfo]:
        """A new token (its text is returned here and never again) and its stored description."""
        token = API_TOKEN_PREFIX + new_secret()
        with self._units.begin() as transaction:
            info = transaction.accounts.add_api_token(user_id, secret_hash(token), token[:API_TOKEN_SHOWN],
                                                      token_name(name), scope, self._clock.now())
        log.info("accounts.api_token_created user=%d token=%d scope=%s", user_id, info.id, scope.value)
        return token, info

    def api_tokens(self, user_id: int) -> list[ApiTokenInfo]:
        with self._store.reading() as records:
            return records.api_tokens_of(user_id)

    def revoke_api_token(self, user_id: int, token_id: int) -> None:
        with self._units.begin() as transaction:
            if not transaction.accounts.revoke_api_token(user_id, token_id, self._clock.now()):
                raise NotFound(f"no API token {token_id} of yours is active")
        log.info("accounts.api_token_revoked user=%d token=%d", user_id, token_id)

    def delete_account(self, user_id: int) -> None:
        """Remove the account's address and personal data: sessions, tokens, sign-in links, its
        digest subscription and mail to the address. The row stays, without them, for what
        refers to its id (votes)."""
        with self._units.begin() as transaction:
            records = transaction.accounts
            user = records.user_by_id(user_id)
            if user is None or user.email is None:
                return
            records.forget_links(user.email)
            records.forget_user(user_id)
            subscribers = transaction.subscribers
            subscriber = subscribers.by_user(user_id) or subscribers.by_email(user.email)
            if subscriber is not None:
                subscribers.forget(subscriber.id, self._clock.now(), new_secret(16))
            forgotten = self._mail.forget_recipient(transaction.connection, user.email)
        log.info("accounts.deleted user=%d mails_forgotten=%d", user_id, forgotten)

    # -- operators ---------------------------------------------------------------------------

    def add_user(self, email_text: str, *, is_admin: bool = False) -> User:
        email = normalise_email(email_text)
        with self._units.begin() as transaction:
            user = transaction.accounts.add_user(email, self._clock.now(), is_admin=is_admin)
        if user is None:
            raise Conflict(f"{email} has an account already")
        return user

    def list_users(self, limit: int = 1000) -> list[User]:
        with self._store.reading() as records:
            return records.list_users(limit)

    def set_state(self, email_text: str, state: UserState) -> User:
        """Disable or enable an account; disabling ends its sessions at once (its API tokens stop
        working while it is disabled) and takes its upvotes and saves out of every count."""
        with self._units.begin() as transaction:
            records = transaction.accounts
            user = _existing(records, email_text)
            records.set_user_state(user.id, state)
            if state is not UserState.ACTIVE:
                records.delete_sessions(user.id)
            # In this transaction: a disabled account's votes stop counting, and count again when
            # it is enabled (both idempotent).
            if state is UserState.DISABLED:
                transaction.votes.stop_counting(user.id)
            elif state is UserState.ACTIVE:
                transaction.votes.resume_counting(user.id)
            changed = records.user_by_id(user.id)
        assert changed is not None
        log.info("accounts.state user=%d state=%s", user.id, state.value)
        return changed

    def login_link(self, email_text: str) -> str:
        """A sign-in link's path for an existing, active account, made without mail (for an
        operator, or a one-person install with no mail set up)."""
        with self._units.begin() as transaction:
            records = transaction.accounts
            user = _existing(records, email_text)
            if user.state is not UserState.ACTIVE or user.email is None:
                raise NotAllowed(f"the account of {user.email} is {user.state.value}")
            token = self._links.issue(records, SIGN_IN_PURPOSE, user.email, self.policy.link_max_age)
        return sign_in_path(token)

    def prune(self) -> tuple[int, int]:
        """Delete sign-in links long past their end and expired sessions; how many of each."""
        now = self._clock.now()
        with self._units.begin() as transaction:
            return transaction.accounts.prune(now - LINK_KEEP, now)


def _existing(records: AccountRecords, email_text: str) -> User:
    """The account of an address, or `NotFound` saying how to add it."""
    email = normalise_email(email_text)
    user = records.user_by_email(email)
    if user is None:
        raise NotFound(f"no account for {email} (add one with `papercast users add {email}`)")
    return user
