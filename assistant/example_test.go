package assistant_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// generateCommunes returns a CSV like INSEE's population series: 34,521
// communes in 100 départements, the Rhône (69) holding 267 of them, with
// their population in 2015 and 2021 and the change. Seeded: the same bytes
// every run.
func generateCommunes() []byte {
	r := rand.New(rand.NewPCG(69, 2021))
	var b bytes.Buffer
	b.WriteString("code_insee;commune;departement;population_2015;population_2021;variation\n")
	n := 0
	for d := 1; d <= 100; d++ {
		count := 346
		if d == 69 {
			count = 267
		}
		for i := 1; i <= count; i++ {
			n++
			p15 := int(r.ExpFloat64() * 1500)
			p21 := p15 + int(r.NormFloat64()*float64(p15)/20)
			if p21 < 0 {
				p21 = 0
			}
			fmt.Fprintf(&b, "%02d%03d;Commune %d-%d;%02d;%d;%d;%d\n", d, i, d, i, d, p15, p21, p21-p15)
		}
	}
	return b.Bytes()
}
