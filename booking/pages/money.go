package pages

import (
	"strconv"
	"strings"
)

// Money is an amount in a currency.
type Money struct {
	// Cents is the amount in hundredths of the currency's unit: 1250 is
	// 12.50. It may be negative.
	Cents int64
	// Currency is the ISO 4217 code, e.g. "EUR"; any case. Empty shows the
	// bare amount.
	Currency string
}

// symbols are the currencies written with a sign before the amount; any
// other currency is written after it, by its code.
var symbols = map[string]string{"EUR": "€", "GBP": "£", "USD": "$"}

// String formats m the way the pages show it: "€12.50", "£1,250", "$0.99",
// "12.50 CHF", "-€5". Whole amounts leave out the cents, as a price tag
// does; thousands are grouped with commas. The pages' script formats
// amounts by the same rules.
func (m Money) String() string {
	cents := m.Cents
	sign := ""
	if cents < 0 {
		sign = "-"
	}
	units, rest := cents/100, cents%100
	if cents < 0 {
		units, rest = -units, -rest
	}
	amount := group(strconv.FormatUint(uint64(units), 10))
	if rest != 0 {
		amount += "." + strconv.FormatInt(rest/10, 10) + strconv.FormatInt(rest%10, 10)
	}
	code := strings.ToUpper(strings.TrimSpace(m.Currency))
	if sym, ok := symbols[code]; ok {
		return sign + sym + amount
	}
	if code == "" {
		return sign + amount
	}
	return sign + amount + " " + code
}

// group puts a comma between thousands of a string of digits.
func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(digits[i])
	}
	return b.String()
}
