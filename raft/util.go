package raft

import "math"

// noLimit is the size limit that never limits.
const noLimit = math.MaxUint64
