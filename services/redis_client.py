"""Redis clients configured the way redis-py's issue tracker advises.

- An explicit retry policy (exponential backoff with jitter, bounded) for
  connection errors and timeouts; redis-py retries nothing by default.
- A separate client, with its own connection, for blocking reads, whose BLOCK is
  always shorter than the socket timeout (redis-py #2807).
- No command is ever cancelled mid-flight (redis-py #2624, #2665): workers stop
  between commands, never by cancelling one.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry


def make_redis(url: str, socket_timeout: float = 5.0, *, max_connections: int = 10) -> Redis:
    """A client with bounded retries and timeouts; raises on the first command if Redis is down."""
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(2.0, socket_timeout),
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.02), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
        max_connections=max_connections,
        decode_responses=False,
    )


def blocking_read_ms(socket_timeout: float) -> int:
    """A BLOCK duration safely below the client's socket timeout."""
    return max(100, int(socket_timeout * 1000 * 0.4))


REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
"""Errors meaning Redis is unreachable (as opposed to a refused command)."""
