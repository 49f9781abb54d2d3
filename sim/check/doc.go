// Package check judges what the simulation's workloads recorded, and
// what the real-process suite's processes logged: election leases
// (E1-E3), clock readings (C1-C3 and Now within its Interval), lock
// grants (L1-L3, linearizability with porcupine, the Fence's late
// writes), task runs (T1-T3), event streams (S1, S2, S4) and their
// consumer groups (S3). It is a leaf: records in, verdicts out,
// no clock, no network, nothing of the library, so a user's own test
// can judge a history it recorded in the same way.
package check
