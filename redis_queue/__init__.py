"""The Redis queue between intake and apply: sale records, the apply stream, rate buckets, counters."""
