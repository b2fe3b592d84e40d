// Package resilience holds tests (package resilience_test, build tag "resilience") that
// kill, restart and partition the operator and its API servers while it works, and check
// that it converges without losing a status or leaving an object behind: two real API servers (west, the hub, also a member; east, a member
// reached through its kubeconfig Secret) with every CRD, the operator built by
// operator.New as the binary builds it (or the binary itself, to SIGKILL it), and for
// leader election the real BGP fabric (FRR routers and gobgpd speakers, test/fabric).
//
//   - TestRestartMidApply: 200 ingresses; the binary is SIGKILLed while programming them,
//     an in-process operator takes over, is cancelled in the middle of an update of all
//     200, a third converges; every member then holds exactly what the ingresses render
//     (no duplicate, orphan or stale object) and no two ingresses share an address.
//   - TestMemberRestartAndCompaction: east's API server is killed while ingresses are
//     programmed and changed, both etcds are compacted, east comes back: no status lost,
//     the operator's informers relist and it converges.
//   - TestLeaderHandover: two replicas with leader election and a watcher class on the
//     fabric; the leader is cancelled (lease released), later partitioned from its API
//     server (lease expires); the standby takes over each time, the handover time is
//     reported, and the new leader's status matches what the routers carry, including a
//     change made while nobody led; the transient states the status passes through are
//     reported.
//
// They take minutes, so they are behind the build tag "resilience": `make
// test-resilience` runs them (CI runs it after `make test`); `go test ./...` does not.
package resilience
