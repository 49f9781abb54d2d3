// Package sim runs gossipsync nodes in one process on a virtual, faulty
// network (package simnet), so that tests can drive them through loss,
// delay, partitions and crashes inside a testing/synctest bubble: the
// cluster harness (Cluster: start, crash, restart, pause, partition,
// skewed and drifting physical clocks), the workloads that record what
// the primitives did (election, clock, lock, task, event stream and
// consumer group), and the checkers that judge those records (E1-E3,
// C1-C3, L1-L3 with porcupine, T1-T3, S1-S4).
// Package sim/chaos builds the chaos test on it.
package sim
