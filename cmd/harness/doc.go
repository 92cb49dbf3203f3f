// Command harness runs raftkv's Jepsen-style scenarios and checks histories.
//
//	harness run FILE...   run scenarios; exit 0 if every verdict is the expected one,
//	                      1 if one differs, 2 if one is unknown or the harness failed
//	harness check PATH    re-check a run directory, a history.jsonl or a Jepsen .edn;
//	                      exit 0 valid, 1 invalid, 2 unknown or error
//	harness list [DIR]    list scenarios, fault kinds and backends
//	harness shrink RUN    shrink an invalid sim run (fewer faults, clients, keys, a
//	                      shorter duration, still invalid): writes RUN/shrunk.yaml,
//	                      runs it, prints both schedules and the replay command;
//	                      exit 0 shrunk and invalid, 2 refused or failed
package main
