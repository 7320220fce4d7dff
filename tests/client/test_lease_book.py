"""The lease state machine: local evaluation inside the lease, renewal at 80%, the barrier
after a report, and backing off while the service is unreachable."""

from lrcast import LeasePolicy
from lrcast._lease import FETCH, LOCAL, RENEW, Lease, LeaseBook
from lrcast.schedules import Timeline, parse


def lease(start: int, horizon: int, version: int = 1) -> Lease:
    timeline = Timeline.single(parse({"type": "constant", "lr": 0.1}))
    return Lease("r", version, timeline, start, horizon, metric_driven=True, world_size=2)


def test_no_lease_means_fetch():
    assert LeaseBook(LeasePolicy()).action(0) == FETCH


def test_local_until_80_percent_then_renew_then_fetch_past_horizon():
    book = LeaseBook(LeasePolicy(steps=100, renew_at=0.8))
    book.install(lease(100, 200))
    assert [book.action(s, now=0.0) for s in (100, 179)] == [LOCAL, LOCAL]
    assert [book.action(s, now=0.0) for s in (180, 199)] == [RENEW, RENEW]
    assert [book.action(s, now=0.0) for s in (99, 200)] == [FETCH, FETCH]
    assert book.fast_until == 180


def test_failed_renewal_keeps_the_lease_and_retries_later():
    book = LeaseBook(LeasePolicy(steps=100, renew_at=0.8, retry_every=2.0))
    book.install(lease(0, 100))
    book.renewal_failed(now=10.0)
    assert book.action(190 // 2, now=11.0) == LOCAL  # inside the lease: keep training
    assert book.action(95, now=12.0) == RENEW
    assert book.unreachable_since == 10.0
    book.install(lease(95, 195))
    assert book.unreachable_since is None


def test_pending_round_blocks_steps_from_the_round_on():
    book = LeaseBook(LeasePolicy(steps=100))
    book.install(lease(0, 100))
    book.set_pending(40)
    assert book.fast_until == 40
    assert (book.action(39), book.action(40), book.action(60)) == (LOCAL, FETCH, FETCH)
    book.set_pending(None)
    assert book.action(60) == LOCAL


def test_short_lease_capped_at_a_round_renews_only_at_its_horizon():
    book = LeaseBook(LeasePolicy(steps=1000, renew_at=0.8))
    book.install(lease(10, 12))
    assert book.fast_until == 12
    assert (book.action(11), book.action(12)) == (LOCAL, FETCH)


def test_leases_are_sized_in_time_at_the_measured_step_rate():
    policy = LeasePolicy(steps=100, seconds=30.0, min_steps=10, max_steps=100_000)
    book = LeaseBook(policy)
    assert book.lease_steps(0, now=0.0) == 100  # no lease yet: the first length
    book.install(lease(0, 100), now=0.0)
    assert book.lease_steps(80, now=8.0) == 160  # 10 steps/s for 30 s, at most twice 80
    assert book.lease_steps(20, now=8.0) == 40  # 2.5 steps/s: 75, at most twice 20
    assert book.lease_steps(80, now=800.0) == 10  # slow: at least min_steps
    assert book.lease_steps(80, now=0.0001) == 160  # a burst: twice what it used, no more
    assert LeaseBook(LeasePolicy(max_steps=1000)).policy.next_steps(10**6, 1.0) == 1000
    assert book.lease_steps(10**6, now=8.0) == 200  # a jump far ahead used the 100, no more
    fixed = LeaseBook(LeasePolicy(steps=64, seconds=None))
    fixed.install(lease(0, 64), now=0.0)
    assert fixed.lease_steps(50, now=1.0) == 64


def test_a_burst_of_quick_steps_does_not_lease_far_ahead():
    """100 quick renewals (a warm-up loop at 1e5 steps/s) then 1 step/s: the lease grows
    by at most twice what was used each time, and shrinks back at the real pace."""
    policy = LeasePolicy()
    book = LeaseBook(policy)
    now, step = 0.0, 0
    book.install(lease(0, book.lease_steps(0, now)), now=now)
    lengths = []
    for _ in range(100):
        used = book.fast_until - book.lease.start
        step, now = book.fast_until, now + used / 1e5
        lengths.append(book.lease_steps(step, now))
        assert lengths[-1] <= max(policy.min_steps, 2 * used)
        book.install(lease(step, step + lengths[-1]), now=now)
    slow = book.fast_until - book.lease.start
    assert book.lease_steps(book.fast_until, now + slow) == max(policy.min_steps, 30)


def test_default_policy_renews_at_most_10_times_per_1000_steps_at_any_pace():
    policy = LeasePolicy()
    for rate in (0.01, 1.0, 5.0, 100.0, 1e6):
        length = policy.next_steps(done=120, elapsed=120 / rate)
        renew_every = max(1, int(length * policy.renew_at))
        assert 1000 / renew_every <= 10, rate
