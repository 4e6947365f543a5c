/// `thaw up`'s restart rule for one node, like systemd's `Restart=on-failure` with
/// `StartLimitBurst`/`StartLimitIntervalSec`, or an Erlang one-for-one supervisor's intensity and period:
/// a node that exits unexpectedly is restarted after a back-off that doubles with each recent restart;
/// a node that needs more than ``maximumRestarts`` restarts within ``window`` has failed for good.
///
/// Pure: time is passed in (a `ContinuousClock.Instant` or any other `InstantProtocol`), so tests
/// drive it without waiting.
package struct RestartPolicy: Sendable, Hashable {
    /// Most restarts within ``window``; one more failure within it ends the run.
    package var maximumRestarts: Int
    package var window: Duration
    /// The wait before the first restart in a window; doubled for each further one, up to ``maximumBackoff``.
    package var initialBackoff: Duration
    package var maximumBackoff: Duration

    package init(
        maximumRestarts: Int = 5, window: Duration = .seconds(60), initialBackoff: Duration = .milliseconds(500),
        maximumBackoff: Duration = .seconds(8)
    ) {
        self.maximumRestarts = maximumRestarts
        self.window = window
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    package static let standard = RestartPolicy()
}

/// One node's restart history under a ``RestartPolicy``.
package struct RestartBudget<Instant: InstantProtocol<Duration>>: Sendable where Instant: Sendable {
    /// What to do about a node that just exited unexpectedly.
    package enum Decision: Sendable, Hashable {
        /// Restart it after this back-off; `attempt` counts restarts within the window, from 1.
        case restart(after: Duration, attempt: Int)
        /// It failed `failures` times within the policy's window: give up.
        case giveUp(failures: Int)
    }

    package let policy: RestartPolicy
    /// When each restart within the window was decided.
    package private(set) var recent: [Instant] = []
    /// Every restart over the whole run.
    package private(set) var total = 0

    package init(policy: RestartPolicy) { self.policy = policy }

    /// Records an unexpected exit at `now` and decides.
    package mutating func exited(at now: Instant) -> Decision {
        recent.removeAll { $0.duration(to: now) > policy.window }
        guard recent.count < policy.maximumRestarts else { return .giveUp(failures: recent.count + 1) }
        let backoff = min(policy.initialBackoff * (1 << min(recent.count, 16)), policy.maximumBackoff)
        recent.append(now)
        total += 1
        return .restart(after: backoff, attempt: recent.count)
    }
}
