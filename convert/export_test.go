package convert

// SetHeadLen sets how much of a file the sniffer reads, so that small test
// files can hold values beyond the head; it returns the function that
// restores it.
func SetHeadLen(n int) (restore func()) {
	old := headLen
	headLen = n
	return func() { headLen = old }
}
