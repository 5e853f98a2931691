package convert

// SetHeadLen sets how much of a file the sniffer reads, so that small test
// files can hold values beyond the head; it returns the function that
// restores it.
func SetHeadLen(n int) (restore func()) {
	old := headLen
	headLen = n
	return func() { headLen = old }
}

// Update is the -update flag of the package's tests (update_test.go), for
// the golden tests of package convert_test.
var Update = update
