package convert_test

import (
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// Round 2 of the corpus (issue 13): the messy files that open-data portals
// publish. Each fixture is made up for its class.
func init() { corpus = append(append(corpus, round2...), round2Encodings...) }

var utf16LENoBOM = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
var utf16BENoBOM = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)

// cities is a few lines of text in a script, repeated so that an encoding
// detector has enough bytes to decide.
func cities(header string, rows ...string) string {
	s := header + "\n"
	for i := 0; i < 4; i++ {
		for _, r := range rows {
			s += r + "\n"
		}
	}
	return s
}

var round2 = []fixture{
	// Header and preamble.
	{name: "title_padded.csv", text: "Combined Land-Ocean Temperature;;;;\nYear;Jan;Feb;Mar;Apr\n1880;-0,2;-0,3;-0,1;0,1\n1881;-0,2;-0,1;0,0;0,1\n1882;0,1;0,1;0,0;-0,2\n"},
	{name: "title_padded_blank_row.csv", text: "Températures moyennes;;;\n;;;\nstation;janvier;février;mars\nBrest;7,1;7,3;8,9\nNice;9,8;10,2;12,4\n"},
	{name: "kv_metadata_tab.tsv", text: "Source\tINSEE\nMise à jour\t2023-05-01\nUnité\tnombre d'habitants\n\ncode\tnom\tpopulation\tsurface\n01001\tL'Abergement\t832\t15,95\n01002\tL'Abergement-de-Varey\t267\t9,15\n01004\tAmbérieu-en-Bugey\t14514\t24,6\n"},
	{name: "notes_fewer_fields.csv", text: "Note : chiffres provisoires;voir annexe\nid;nom;valeur;unite\n1;acier;2,5;kg\n2;bois;0,75;kg\n3;verre;1,2;kg\n"},
	{name: "header_blank_ends.csv", text: ";2019;2020;2021;\nFrance;1,5;2,5;3,5;\nItalie;1,1;1,2;1,3;\nEspagne;0,9;1,0;1,4;\n"},
	{name: "header_blank_ends_blank_row.csv", text: ";;;;\n;2019;2020;2021;\nFrance;1,5;2,5;3,5;\nItalie;1,1;1,2;1,3;\n"},
	{name: "sparse_header.csv", text: "nom;;\nx;1;2\ny;3;4\n"},
	{name: "title_above_years.csv", text: "Émissions de CO2 (Mt);;;\n;2019;2020;2021\nFrance;1,5;2;3\nItalie;2,5;2,25;3\n"},
	{name: "years_header.csv", text: "2019;2020;2021\n12,5;13;14,1\n10;11,5;12\n"},
	{name: "years_header_integers.csv", text: "2021,2022,2023\n125,130,141\n98,102,99\n"},
	{name: "years_as_data.csv", text: "1990;2001;2010\n1991;2002;2011\n1992;2003;2012\n"},
	{name: "repeated_header_top.csv", text: "a;b;c\na;b;c\na;b;c\n1;2;3\n4;5;6\n"},
	{name: "repeated_header_inside.csv", text: "id;nom;valeur\n1;x;2,5\n2;y;3\nid;nom;valeur\n3;z;4\n4;t;5,5\nid;nom;valeur\n5;u;6\n"},
	{name: "repeated_header_late.csv", text: "id;valeur\n" + many("1;2,5\n", 400) + "id;valeur\n2;3\n"},
	{name: "repeated_header_single_column.csv", text: "code\n01001\n2A004\ncode\n75056\n"},
	{name: "no_header_codes.csv", text: "01001;L'Abergement;832\n01002;Ambérieu;14000\n2A004;Ajaccio;69000\n"},
	{name: "no_header_dates.csv", text: "2023-01-15;12,5;Paris\n2023-01-16;13;Lyon\n2023-01-17;11,25;Nantes\n"},
	{name: "header_named_codes.csv", text: "commune;nom\n01001;L'Abergement\n2A004;Ajaccio\n"},
	{name: "wide_row_after_header.csv", text: "a;b;c\n1;2;3;4\n"},
	{name: "note_above_headerless.csv", text: "Source;INSEE 2023\n01001;832;15,95\n01002;267;9,15\n01004;14514;24,6\n"},
	{name: "wide_rows_tie.csv", text: "nom;valeur\nx;1;extra\ny;2\n"},
	{name: "preamble_repeated_header_cp1252.csv", text: "Export du 01/02/2023;;\n\ncommune;libellé;montant\ncommune;libellé;montant\n01001;Abergement;12,5\n01002;Ambérieu;3\ncommune;libellé;montant\n01004;Ambronay;4,25\n", enc: charmap.Windows1252},
	{name: "repeated_header_crlf_last_lf.csv", text: "a;b\r\n1;x\r\na;b\r\n2;y\n"},
	{name: "trailing_delimiter_data.csv", text: "a;b;c\n1;2;3;\n4;5;6;\n7;8;9;\n"},

	// Line ends, quotes, escapes.
	{name: "crlf_last_lf.csv", text: "a;b\r\n1;x\r\n2;y\n"},
	{name: "lf_ending_crlf.csv", text: "a;b\n1;x\n2;y\n\n\r\n"},
	{name: "stray_cr.csv", text: "a;b;c\n1;x\ry;2\n3;z;4\n"},
	{name: "stray_cr_crlf.csv", text: "a;b\r\n1;x\ry\r\n2;z\r\n"},
	{name: "mixed_crlf_lf.csv", text: "a;b\r\n1;x\n2;y\r\n3;z\n"},
	{name: "cr_file_last_lf.csv", text: "a;b\r1;x\r2;y\n"},
	{name: "stray_cr_cp1252.csv", text: "nom;ville\n" + many("René;Sète\n", 300) + "Anaïs;È\rze\n", enc: charmap.Windows1252},
	{name: "stray_cr_late.csv", text: "id;texte\n" + many("1;court\n", 1300) + "2;avec\rretour\n"},
	{name: "unterminated_quote_resync.csv", text: "a;b\n1;ok\n2;\"jamais fermé\n3;lu\n4;lu aussi\n"},
	{name: "backslash_escape.csv", text: "id;texte\n1;\"il a dit \\\"oui\\\"\"\n2;\"le \\\"non\\\" ici\"\n3;simple\n"},
	{name: "backslash_not_escape.csv", text: "id;chemin;note\n1;\"C:\\données\\\";ok\n2;\"D:\\\";ok\n"},
	{name: "unterminated_quote_late.csv", text: "id;texte\n" + many("1;\"cité\"\n", 400) + "2;\"ouvert\n3;suite\n4;\"fermé\"\n"},
	{name: "unterminated_quote_cp1252_crlf.csv", text: "nom;ville\r\nRené;\"Sète\r\nAnaïs;Èze\r\nZoé;\"Orléans\"\r\n", enc: charmap.Windows1252},
	{name: "backslash_escape_forced.csv", text: "id,texte\n1,\"a \\\"b\\\" c\"\n", opts: "escape=\\"},

	// Not tables.
	{name: "html_table.csv", text: "<table border=1>\n<tr><td>a</td><td>b</td></tr>\n</table>\n"},
	{name: "html_div.csv", text: "<div class=\"error\">Ressource introuvable</div>\n"},
	{name: "html_tr.csv", text: "<tr><td>1</td><td>2</td></tr>\n<tr><td>3</td><td>4</td></tr>\n"},
	{name: "html_comment.csv", text: "<!-- export -->\n<table><tr><td>x</td></tr></table>\n"},
	{name: "xml_no_declaration.csv", text: "<donnees>\n<ligne><id>1</id></ligne>\n</donnees>\n"},
	{name: "rss.csv", text: "<rss version=\"2.0\"><channel><title>Actualités</title></channel></rss>\n"},

	// Types.
	{name: "timestamps_offset.csv", text: "debut;fin\n2023-01-15T10:30:00+02:00;2023-01-15 10:30:00Z\n2023-06-01T08:00:00-05:00;2023-06-01 23:59:59+00:00\n"},
	{name: "dot_thousands_comma_decimal.csv", text: "libelle;montant\na;1.234,56\nb;12,5\nc;1.000.000,00\n"},
	{name: "exponent.csv", text: "x;y\n1e5;1\n2.5E-3;2\n3;3\n"},
	{name: "dot_thousands_disagree.csv", text: "id;v\n1;1.234,5\n2;2.5\n"},
	{name: "dot_thousands_integers.csv", text: "id;population\n1;1.234.567\n2;12.345\n3;999\n"},
	{name: "exponent_overflow.csv", text: "id;x\n1;1e5\n2;1e999\n"},
}

// Encodings beyond Western ones, detected with a detector library.
var round2Encodings = []fixture{
	{name: "big5.csv", text: cities("城市;人口;說明", "台北;2602418;首都與最大的城市", "高雄;2765932;南部的港口城市", "台中;2820787;中部的文化城市"), enc: traditionalchinese.Big5},
	{name: "gbk.csv", text: cities("城市,人口,说明", "北京,21893095,中国的首都", "上海,24870895,最大的经济中心", "广州,18676605,南方的商业城市"), enc: simplifiedchinese.GBK},
	{name: "gb18030.csv", text: cities("省份;简称;面积", "广东省;粤;179800", "四川省;川;486000", "浙江省;浙;105500"), enc: simplifiedchinese.GB18030},
	{name: "shift_jis.csv", text: cities("都市,人口,説明", "東京,13960000,日本の首都です", "大阪,2750000,西日本の中心です", "名古屋,2330000,中部地方の都市です"), enc: japanese.ShiftJIS},
	{name: "euc_kr.csv", text: cities("도시;인구;설명", "서울;9776000;대한민국의 수도", "부산;3429000;남부의 항구 도시", "인천;2948000;서해안의 도시"), enc: korean.EUCKR},
	{name: "windows1251.csv", text: cities("город;население;описание", "Москва;13010112;столица России", "Новосибирск;1633595;крупнейший город Сибири", "Казань;1308660;столица Татарстана"), enc: charmap.Windows1251},
	{name: "koi8r.csv", text: cities("город;население;описание", "Москва;13010112;столица России", "Самара;1173299;город на Волге", "Омск;1125695;город в Сибири"), enc: charmap.KOI8R},
	{name: "windows1250.csv", text: cities("miasto;ludność;opis", "Łódź;672185;miasto włókniarzy", "Gdańsk;486022;port nad Bałtykiem", "Kraków;800653;dawna stolica Polski"), enc: charmap.Windows1250},
	{name: "iso8859_2.csv", text: cities("město;obyvatel;popis", "Praha;1357326;hlavní město České republiky", "Brno;382405;druhé největší město", "Ostrava;284982;průmyslové město na severu"), enc: charmap.ISO8859_2},
	{name: "windows1253.csv", text: cities("πόλη;πληθυσμός;περιγραφή", "Αθήνα;664046;πρωτεύουσα της Ελλάδας", "Θεσσαλονίκη;325182;μεγάλο λιμάνι του βορρά", "Πάτρα;167446;πόλη της Πελοποννήσου"), enc: charmap.Windows1253},
	{name: "windows1256.csv", text: cities("مدينة;السكان;وصف", "القاهرة;9539673;عاصمة مصر", "الرياض;7676654;عاصمة السعودية", "بيروت;2200000;عاصمة لبنان"), enc: charmap.Windows1256},
	{name: "utf16le_no_bom.csv", text: cities("id;nom;ville", "1;Élodie;Orléans", "2;Noël;Besançon"), enc: utf16LENoBOM},
	{name: "utf16be_no_bom.csv", text: cities("id;nom;ville", "1;Zoé;Sète", "2;Anaïs;Èze"), enc: utf16BENoBOM},
}
