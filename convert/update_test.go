package convert

import "flag"

// update regenerates golden files (and, for TestGenerateFixtures, the
// binary fixtures): go test ./convert -update.
var update = flag.Bool("update", false, "rewrite golden files and generated fixtures")
