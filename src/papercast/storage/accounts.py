"""Accounts on SQLite and PostgreSQL: users, sessions, API tokens and single-use links.

`SqlAccountRecords` does every read and write on one connection, so the same code serves a read
(`SqlAccountStore.reading()`) and a unit of work's transaction (`transaction.accounts`), where a
sign-in link commits with the mail that carries it. Times are UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from papercast.domain.accounts import (
    ApiTokenInfo,
    LinkRecord,
    Reader,
    Scope,
    SessionInfo,
    User,
    UserState,
    Via,
)
from papercast.storage.engine import as_utc
from papercast.storage.tables import api_tokens, link_tokens, sessions, users


class SqlAccountRecords:
    """Account rows read and written on `connection` (inside the caller's transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    # -- users -------------------------------------------------------------------------------

    def add_user(self, email: str, now: datetime, *, is_admin: bool = False) -> User | None:
        """A new active account for `email` (normalised), or None when the address has one."""
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = (dialect.insert(users)
                     .values(email=email, state=UserState.ACTIVE.value, is_admin=is_admin, created_at=now)
                     .on_conflict_do_nothing(index_elements=[users.c.email]).returning(users.c.id))
        user_id = self._connection.execute(statement).scalar_one_or_none()
        return None if user_id is None else self.user_by_id(int(user_id))

    def user_by_email(self, email: str) -> User | None:
        row = self._connection.execute(select(users).where(users.c.email == email)).first()
        return None if row is None else _user(row)

    def user_by_id(self, user_id: int) -> User | None:
        row = self._connection.execute(select(users).where(users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def list_users(self, limit: int) -> list[User]:
        rows = self._connection.execute(select(users).where(users.c.state != UserState.DELETED.value)
                                        .order_by(users.c.id).limit(limit))
        return [_user(row) for row in rows]

    def set_user_state(self, user_id: int, state: UserState) -> None:
        self._connection.execute(update(users).where(users.c.id == user_id).values(state=state.value))

    def set_admin(self, user_id: int, is_admin: bool) -> None:
        self._connection.execute(update(users).where(users.c.id == user_id).values(is_admin=is_admin))

    def record_sign_in(self, user_id: int, now: datetime) -> None:
        self._connection.execute(update(users).where(users.c.id == user_id).values(last_sign_in_at=now))

    def forget_user(self, user_id: int) -> None:
        """Delete the account's address and personal data; the row stays, `deleted`, for what
        refers to its id. Sessions and API tokens go with it."""
        self.delete_sessions(user_id)
        self._connection.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
        self._connection.execute(update(users).where(users.c.id == user_id).values(
            email=None, state=UserState.DELETED.value, is_admin=False, last_sign_in_at=None))

    # -- sessions ----------------------------------------------------------------------------

    def add_session(self, user_id: int, token_hash: str, now: datetime, expires_at: datetime,
                    user_agent: str) -> int:
        statement = sessions.insert().values(
            user_id=user_id, token_hash=token_hash, created_at=now, last_seen_at=now, expires_at=expires_at,
            user_agent=user_agent[:60]).returning(sessions.c.id)
        return int(self._connection.execute(statement).scalar_one())

    def session_reader(self, token_hash: str, now: datetime) -> tuple[Reader, datetime] | None:
        """The reader of an unexpired session of an active account, and when it was last seen."""
        row = self._connection.execute(
            select(sessions.c.id, sessions.c.last_seen_at, users.c.id.label("user_id"), users.c.email,
                   users.c.is_admin)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now,
                   users.c.state == UserState.ACTIVE.value)).first()
        if row is None:
            return None
        reader = Reader(row.user_id, row.email, bool(row.is_admin), Via.SESSION, Scope.WRITE, row.id)
        return reader, _utc(row.last_seen_at)

    def touch_session(self, session_id: int, now: datetime) -> None:
        self._connection.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=now))

    def sessions_of(self, user_id: int, now: datetime) -> list[SessionInfo]:
        rows = self._connection.execute(select(sessions).where(
            sessions.c.user_id == user_id, sessions.c.expires_at > now)
            .order_by(sessions.c.last_seen_at.desc()))
        return [SessionInfo(row.id, row.user_id, _utc(row.created_at), _utc(row.last_seen_at),
                            _utc(row.expires_at), row.user_agent) for row in rows]

    def delete_session(self, token_hash: str) -> bool:
        result = self._connection.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
        return result.rowcount > 0

    def delete_sessions(self, user_id: int) -> int:
        return self._connection.execute(delete(sessions).where(sessions.c.user_id == user_id)).rowcount

    # -- API tokens --------------------------------------------------------------------------

    def add_api_token(self, user_id: int, token_hash: str, prefix: str, name: str, scope: Scope,
                      now: datetime) -> ApiTokenInfo:
        statement = api_tokens.insert().values(
            user_id=user_id, token_hash=token_hash, prefix=prefix, name=name, scope=scope.value,
            created_at=now).returning(api_tokens.c.id)
        token_id = int(self._connection.execute(statement).scalar_one())
        return ApiTokenInfo(token_id, user_id, name, prefix, scope, now, None, None)

    def token_reader(self, token_hash: str) -> tuple[Reader, datetime | None] | None:
        """The reader of an unrevoked API token of an active account, and when it was last used."""
        row = self._connection.execute(
            select(api_tokens.c.id, api_tokens.c.scope, api_tokens.c.last_used_at,
                   users.c.id.label("user_id"), users.c.email, users.c.is_admin)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None),
                   users.c.state == UserState.ACTIVE.value)).first()
        if row is None:
            return None
        reader = Reader(row.user_id, row.email, bool(row.is_admin), Via.TOKEN, Scope(row.scope), row.id)
        return reader, as_utc(row.last_used_at)

    def touch_api_token(self, token_id: int, now: datetime) -> None:
        self._connection.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                                 .values(last_used_at=now))

    def api_tokens_of(self, user_id: int) -> list[ApiTokenInfo]:
        """The account's tokens that still work, newest first."""
        rows = self._connection.execute(select(api_tokens).where(
            api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            .order_by(api_tokens.c.id.desc()))
        return [ApiTokenInfo(row.id, row.user_id, row.name, row.prefix, Scope(row.scope),
                             _utc(row.created_at), as_utc(row.last_used_at), as_utc(row.revoked_at))
                for row in rows]

    def revoke_api_token(self, user_id: int, token_id: int, now: datetime) -> bool:
        result = self._connection.execute(update(api_tokens).where(
            api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now))
        return result.rowcount > 0

    # -- single-use links --------------------------------------------------------------------

    def add_link(self, purpose: str, subject: str, nonce_hash: str, requester_hash: str | None,
                 now: datetime, expires_at: datetime) -> int:
        statement = link_tokens.insert().values(
            purpose=purpose, subject=subject, nonce_hash=nonce_hash, requester_hash=requester_hash,
            created_at=now, expires_at=expires_at).returning(link_tokens.c.id)
        return int(self._connection.execute(statement).scalar_one())

    def link(self, link_id: int) -> tuple[LinkRecord, str] | None:
        """The link and its nonce's hash."""
        row = self._connection.execute(select(link_tokens).where(link_tokens.c.id == link_id)).first()
        if row is None:
            return None
        record = LinkRecord(row.id, row.purpose, row.subject, _utc(row.created_at), _utc(row.expires_at),
                            as_utc(row.used_at))
        return record, row.nonce_hash

    def use_link(self, link_id: int, now: datetime) -> bool:
        """Mark the link used, if it is still unused and unexpired: of two requests racing with
        one link, exactly one gets True."""
        result = self._connection.execute(update(link_tokens).where(
            link_tokens.c.id == link_id, link_tokens.c.used_at.is_(None), link_tokens.c.expires_at > now)
            .values(used_at=now))
        return result.rowcount > 0

    def count_links(self, purpose: str, since: datetime, *, subject: str | None = None,
                    requester_hash: str | None = None) -> int:
        """Links for `purpose` made since `since` for `subject`, or at the request of `requester_hash`."""
        condition = and_(link_tokens.c.purpose == purpose, link_tokens.c.created_at > since)
        if subject is not None:
            condition = and_(condition, link_tokens.c.subject == subject)
        if requester_hash is not None:
            condition = and_(condition, link_tokens.c.requester_hash == requester_hash)
        return int(self._connection.execute(select(func.count()).where(condition)).scalar_one())

    def forget_links(self, subject: str) -> int:
        return self._connection.execute(delete(link_tokens).where(link_tokens.c.subject == subject)).rowcount

    def prune(self, links_before: datetime, sessions_before: datetime) -> tuple[int, int]:
        """Delete links that expired before `links_before` and sessions that expired before
        `sessions_before`; how many of each."""
        links = self._connection.execute(delete(link_tokens).where(link_tokens.c.expires_at < links_before))
        ended = self._connection.execute(delete(sessions).where(sessions.c.expires_at < sessions_before))
        return links.rowcount, ended.rowcount

    def lock(self, name: str) -> None:
        """Serialise transactions about `name` (an address, a requester) until this one ends: an
        advisory lock on PostgreSQL; SQLite's write transactions are serial already."""
        if self._connection.dialect.name != "postgresql":
            return
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        self._connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class SqlAccountStore:
    """Reads of accounts outside a unit of work (the web resolves a session on every request)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def reading(self) -> Iterator[SqlAccountRecords]:
        with self._engine.connect() as connection:
            yield SqlAccountRecords(connection)


def _user(row: Row[Any]) -> User:
    return User(row.id, row.email, UserState(row.state), bool(row.is_admin), _utc(row.created_at),
                as_utc(row.last_sign_in_at))


def _utc(value: datetime) -> datetime:
    aware = as_utc(value)
    assert aware is not None
    return aware
