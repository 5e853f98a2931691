package convert_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// update is the -update flag (defined once, in package convert): it rewrites
// testdata/corpus/csv, fixtures and golden files.
var update = convert.Update

const corpusDir = "../testdata/corpus/csv"

// corpusHeadLen is the sniffer's head in the corpus test: small, so that
// fixtures of a few KB have values beyond it that the whole-column check
// must see.
const corpusHeadLen = 2 << 10

// fixture is one file of the corpus, written by -update from this table so
// that its intent is readable here; opts are the overrides, as a query
// string.
type fixture struct {
	name string // file name, .csv/.tsv/.txt
	text string // content, as UTF-8
	enc  encoding.Encoding
	bom  bool // prefix a UTF-8 BOM
	opts string
}

// many repeats line n times (files longer than the sniffer's head).
func many(line string, n int) string { return strings.Repeat(line, n) }

var utf16LE = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
var utf16BE = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)

var corpus = []fixture{
	// Encodings.
	{name: "utf8_comma.csv", text: "id,nom,ville\n1,Zoé,Orléans\n2,Chloë,Besançon\n"},
	{name: "utf8_bom_semicolon.csv", text: "id;nom\n1;Élodie\n2;Noël\n", bom: true},
	{name: "utf16le_bom.tsv", text: "id\tnom\n1\tÉlodie\n2\tœuvre €\n", enc: utf16LE},
	{name: "utf16be_bom.csv", text: "id;nom\n1;Élodie\n2;Ça\n", enc: utf16BE},
	{name: "cp1252_semicolon.csv", text: "code;libellé;montant\n01;Œuvre d’art;12,5\n02;Prix en €;1 234,56\n", enc: charmap.Windows1252},
	{name: "latin1_tab.tsv", text: "nom\tville\nRené\tSète\nAnaïs\tÈze\n", enc: charmap.ISO8859_1},
	{name: "iso8859_15_forced.csv", text: "article;prix\nŒuf;2 €\nŠkoda;3 €\n", enc: charmap.ISO8859_15, opts: "encoding=iso-8859-15"},
	{name: "macroman_forced.csv", text: "nom;ville\nRené;Sète\n", enc: charmap.Macintosh, opts: "encoding=macintosh"},
	{name: "cp1252_late_accent.csv", text: "id;ville\n" + many("1;Paris\n", 400) + "2;Orléans\n", enc: charmap.Windows1252},
	{name: "nul_bytes.csv", text: "a;b\n1;x\x00y\n2;z\n\x00"},

	// Dialects.
	{name: "pipe.csv", text: "a|b|c\n1|x|2,5\n2|y|3,5\n"},
	{name: "tab.tsv", text: "a\tb\tc\n1\tx, y\t2.5\n2\tz\t3.5\n"},
	{name: "quoted_fields.csv", text: "id,texte,note\n1,\"a, b\",\"il a dit \"\"oui\"\"\"\n2,\"deux\nlignes\",ok\n3,simple,\"\"\n"},
	{name: "crlf.csv", text: "a;b\r\n1;un\r\n2;deux\r\n"},
	{name: "cr_only.csv", text: "a;b\r1;un\r2;deux\r"},
	{name: "cr_cr_lf.csv", text: "a;b\r\r\n1;un\r\r\n2;deux\r\r\n"},
	{name: "preamble.csv", text: "Titre : communes de l'Ain\nSource : INSEE, 2023\n\ncode;nom;population\n01001;L'Abergement;832\n01002;L'Abergement-de-Varey;267\n"},
	{name: "no_header_numeric.csv", text: "1;2,5;2023-01-15\n2;3,5;2023-02-15\n3;4;2023-03-15\n"},
	{name: "no_header_forced.csv", text: "Paris;Île-de-France\nLyon;Auvergne-Rhône-Alpes\n", opts: "header=none"},
	{name: "blank_header_names.csv", text: "a;;c;\n1;2;3;4\n5;6;7;8\n"},
	{name: "duplicate_header_names.csv", text: "nom;nom;Nom;nom_2\na;b;c;d\n"},
	{name: "whitespace_header_names.csv", text: " id ;   ;\tnom\t\n1;x;y\n"},
	{name: "newline_in_header.csv", text: "id;\"Population\nmunicipale\";\"Surface\r\n(km²)\"\n1;832;15,95\n"},
	{name: "trailing_empty_columns.csv", text: "a;b;;\n1;2;;\n3;4;;\n"},
	{name: "blank_lines.csv", text: "a,b\n1,x\n\n2,y\n\n\n3,z\n\n"},
	{name: "single_column.csv", text: "code\n01001\n2A004\n75056\n"},
	{name: "header_only.csv", text: "a;b;c\n"},
	{name: "semicolon_commas_in_text.csv", text: "id;adresse;cp\n1;12, rue de la Paix;75002\n2;3, place Bellecour;69002\n3;Mairie;01000\n"},
	{name: "quoted_decimal_comma.csv", text: "id,montant\n1,\"12,5\"\n2,\"1 234,56\"\n3,\"-0,75\"\n"},
	{name: "single_quote_forced.csv", text: "id;nom\n1;'a;b'\n2;'c'\n", opts: "quote='"},

	// Ragged rows.
	{name: "ragged_short.csv", text: "a;b;c\n1;2;3\n4;5\n6\n7;8;9\n"},
	{name: "ragged_long.csv", text: "a;b;c\n1;2;3\n4;5;6;7\n8;9;10\n11;12;13;14;15\n"},
	{name: "unterminated_quote.csv", text: "a;b\n1;ok\n2;\"jamais fermé\n3;perdu\n"},
	{name: "ragged_mixed.csv", text: "id,nom,val\n1,a,1.5\n2,b\n3,c,2.5,extra\n4,d,3.5\n"},

	// Types.
	{name: "integers.csv", text: "a,b,c\n1,-2,0\n42,1000000,9007199254740992\n"},
	{name: "decimal_dot.csv", text: "x;y\n1.5;-0.25\n2;10.125\n"},
	{name: "decimal_comma.csv", text: "montant;taux\n1 234,56;12,5\n-7,1;3\n1\u00a0000\u00a0000,01;0,5\n"},
	{name: "mixed_decimal_columns.csv", text: "prix;lat;lon\n12,5;45.75;4.85\n3,25;48.85;2.35\n"},
	{name: "thousands_integers.csv", text: "population;id\n1 234 567;1\n12 345;2\n999;3\n"},
	{name: "booleans.csv", text: "en;fr;fr2;yn;mixed\ntrue;oui;vrai;yes;oui\nFALSE;non;FAUX;no;peut-être\nTrue;Oui;Vrai;Yes;non\n"},
	{name: "zero_one.csv", text: "flag;n\n0;1\n1;2\n"},
	{name: "dates_iso.csv", text: "date;valeur\n2023-01-15;1\n2023-12-31;2\n"},
	{name: "dates_dmy.csv", text: "date_maj;valeur\n15/01/2023;1\n31/12/2023;2\n1/2/2023;3\n"},
	{name: "dates_dmy_dash.csv", text: "jour;valeur\n15-01-2023;1\n31-12-2023;2\n"},
	{name: "dates_mdy.csv", text: "date;v\n01/15/2023;1\n12/31/2023;2\n"},
	{name: "dates_ambiguous.csv", text: "date;v\n01/02/2023;1\n03/04/2023;2\n"},
	{name: "dates_contradict.csv", text: "date;v\n01/15/2023;1\n25/01/2023;2\n"},
	{name: "dates_late_dayfirst.csv", text: "date;v\n" + many("01/02/2023;1\n", 300) + "25/12/2023;2\n"},
	{name: "dates_invalid.csv", text: "date;v\n2023-01-15;1\n2023-02-30;2\n"},
	{name: "dates_ymd8.csv", text: "date_debut;montant;ref\n20230115;20230115;20230115\n20231231;12;20231231\n"},
	{name: "timestamps.csv", text: "iso;fr;tz\n2023-01-15T10:30:00;15/01/2023 10:30;2023-01-15T10:30:00+02:00\n2023-01-15 23:59:59.5;31/12/2023 23:59:59;2023-01-15T10:30:00Z\n"},
	{name: "times_hhmm.csv", text: "heure;v\n08:30;1\n17:45;2\n"},
	{name: "codes.csv", text: "code_insee;code_postal;siren;siret;telephone;dep;population\n01001;01400;123456789;12345678900012;0123456789;01;832\n2A004;20000;987654321;98765432100034;+33 4 95 00 00 00;2A;69000\n75056;75001;552100554;55210055400013;01 23 45 67 89;75;2100000\n"},
	{name: "codes_no_hint.csv", text: "a;b\n123456789;12345678900012\n987654321;98765432100034\n"},
	{name: "big_integers.csv", text: "id;n\n9007199254740993;1\n12345678901234567890;2\n1;3\n"},
	{name: "na_values.csv", text: "a;b;c;d\n1;1,5;NA;x\nNA;-;null;\n3;2,5;NA;y\n"},
	{name: "whitespace_values.csv", text: "a;b;c\n 12 ; 1,5 ; x \n   ;2,5;\n3;   ;z\n"},
	{name: "late_contradiction.csv", text: "n;m\n" + many("1;2\n", 700) + "abc;3.5\n"},
	{name: "late_leading_zero.csv", text: "cp;v\n" + many("75001;1\n", 300) + "01000;2\n"},
	{name: "sparse_column.csv", text: "a;b\n" + many("1;\n", 700) + "2;12,5\n"},
	{name: "rowid_column.csv", text: "rowid;ROWID_;x\n1;2;3\n"},

	// Overrides.
	{name: "override_delimiter.csv", text: "a;b,c\n1;2,3\n", opts: "delimiter=,"},
	{name: "override_decimal_dot.csv", text: "a;b\n1,5;x\n2,5;y\n", opts: "decimal=."},
	{name: "override_decimal_comma.csv", text: "a;b\n1.5;1,5\n2.5;2,5\n", opts: "decimal=,"},
	{name: "override_skip.csv", text: "ligne à ignorer;x;y\na;b;c\n1;2;3\n", opts: "skip=1"},
	{name: "override_header_index.csv", text: "titre\nnote;n\na;b\n1;2\n", opts: "header=2"},

	// Not tabular.
	{name: "empty.csv", text: ""},
	{name: "blank.csv", text: "\n\n  \n"},
	{name: "one_line_no_delimiter.txt", text: "just some words\n"},
	{name: "html.csv", text: "<!DOCTYPE html>\n<html><body>Not found</body></html>\n"},
}

// golden is what a fixture must load into.
type golden struct {
	Error        string           `json:"error,omitempty"`
	Encoding     string           `json:"encoding,omitempty"`
	Confidence   int              `json:"encoding_confidence,omitempty"` // when not 100
	Separator    string           `json:"separator,omitempty"`
	Quote        string           `json:"quote,omitempty"`
	Escape       string           `json:"escape,omitempty"` // when not the quote
	NewLine      string           `json:"newline,omitempty"`
	HasHeader    bool             `json:"has_header,omitempty"`
	HeaderRowIdx int              `json:"header_row_idx,omitempty"`
	Decimal      string           `json:"decimal_separator,omitempty"`
	Rows         int64            `json:"rows,omitempty"`
	Rejected     int64            `json:"rejected_rows,omitempty"`
	Columns      []convert.Column `json:"columns,omitempty"`
	FirstRows    json.RawMessage  `json:"first_rows,omitempty"`
	Rejects      json.RawMessage  `json:"rejects,omitempty"`
}

// TestCorpus loads every fixture of testdata/corpus/csv through Normalize
// and Load and compares the result (dialect, columns, first rows as served
// JSON, rejects) with its golden file. go test -run TestCorpus -update
// ./convert/ rewrites the fixtures from the table above and the golden
// files; review the diff.
func TestCorpus(t *testing.T) {
	if *update {
		writeCorpus(t)
	}
	defer convert.SetHeadLen(corpusHeadLen)()
	db := openDB(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") || strings.HasSuffix(f, ".options") {
			continue
		}
		n++
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			got := loadGolden(t, db, f)
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			gf := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden.json"
			if *update {
				if err := os.WriteFile(gf, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from its golden file\ngot:\n%s\nwant:\n%s", name, out, want)
			}
		})
	}
	if n < len(corpus) {
		t.Errorf("%d fixtures in %s, want %d: run with -update", n, corpusDir, len(corpus))
	}
}

func writeCorpus(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	for _, f := range old {
		os.Remove(f)
	}
	for _, fx := range corpus {
		data := []byte(fx.text)
		if fx.enc != nil {
			var err error
			if data, err = fx.enc.NewEncoder().Bytes(data); err != nil {
				t.Fatalf("%s: %v", fx.name, err)
			}
		}
		if fx.bom {
			data = append([]byte{0xEF, 0xBB, 0xBF}, data...)
		}
		p := filepath.Join(corpusDir, fx.name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if fx.opts != "" {
			if err := os.WriteFile(strings.TrimSuffix(p, filepath.Ext(p))+".options", []byte(fx.opts+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readOptions reads NAME.options (a query string) beside a fixture.
func readOptions(t *testing.T, f string) convert.Options {
	t.Helper()
	raw, err := os.ReadFile(strings.TrimSuffix(f, filepath.Ext(f)) + ".options")
	if errors.Is(err, os.ErrNotExist) {
		return convert.Options{}
	}
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	o := convert.Options{Encoding: q.Get("encoding"), Delimiter: q.Get("delimiter"), Quote: q.Get("quote"),
		Header: q.Get("header"), Decimal: q.Get("decimal"), Escape: q.Get("escape")}
	if s := q.Get("skip"); s != "" {
		if o.Skip, err = convert.ParseSkip(s); err != nil {
			t.Fatal(err)
		}
		o.SkipSet = true
	}
	return o
}

type sqlDB = sql.DB

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2, MemoryLimit: "1GB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func loadGolden(t *testing.T, db *sqlDB, f string) golden {
	opts := readOptions(t, f)
	dir := t.TempDir()
	n, err := convert.Normalize(context.Background(), f, dir, opts.Encoding, 1<<30)
	if err != nil {
		return golden{Error: errorKind(err)}
	}
	m := &convert.Meta{}
	dbPath := filepath.Join(dir, "out.duckdb")
	if err := convert.Load(t.Context(), db, n.Path, dbPath, opts, m); err != nil {
		return golden{Error: errorKind(err)}
	}
	g := golden{Encoding: n.Encoding, Separator: m.Delimiter, Quote: m.Quote, NewLine: m.NewLine,
		HasHeader: m.HasHeader, HeaderRowIdx: m.HeaderRowIdx, Decimal: m.DecimalSeparator,
		Rows: m.Rows, Rejected: m.RejectedRows, Columns: m.Columns}
	if n.EncodingConfidence != 100 {
		g.Confidence = n.EncodingConfidence
	}
	if m.Escape != m.Quote {
		g.Escape = m.Escape
	}
	alias := fmt.Sprintf("corpus_%d", len(dir)) + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(filepath.Base(f)))
	if _, err := db.Exec("ATTACH '" + dbPath + "' AS " + alias + " (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DETACH " + alias)
	page, err := query.Run(t.Context(), db, query.Table{Relation: alias + ".main.data", Columns: m.Columns}, query.Request{Limit: 10, HideTotal: true})
	if err != nil {
		t.Fatal(err)
	}
	g.FirstRows = page.AppendRowsJSON(nil, true)
	if m.RejectedRows > 0 {
		rej := []convert.Column{{Name: "line", Type: "BIGINT"}, {Name: "reason", Type: "VARCHAR"}, {Name: "raw", Type: "VARCHAR"}}
		page, err := query.Run(t.Context(), db, query.Table{Relation: alias + ".main.rejects", Columns: rej}, query.Request{Limit: 5, HideTotal: true, HideRowID: true})
		if err != nil {
			t.Fatal(err)
		}
		g.Rejects = page.AppendRowsJSON(nil, true)
	}
	return g
}

// errorKind names the sentinel an error wraps and its message, so that the
// golden files say which category a refusal is in.
func errorKind(err error) string {
	for _, s := range []error{convert.ErrNotTabular, convert.ErrUnreadable, convert.ErrInvalidOption, convert.ErrUnsupportedEncoding} {
		if errors.Is(err, s) {
			return err.Error()
		}
	}
	return "unexpected: " + err.Error()
}
