/// DynamoDB's Number type: decimal text with at most 38 significant digits and a magnitude between 1E-130 and
/// 9.99...E+125 (or zero).
///
/// Accepted text is what DynamoDB accepts: an optional sign, digits with an optional point, an optional exponent
/// (`+1`, `.5`, `5.`, `1e5`, `-0.0E-3`). Parsing never allocates.
enum DynamoNumber {
    /// A valid number: its value is ± (the significant digits as an integer) × 10^`exponent`.
    struct Parts {
        var isNegative: Bool
        /// From the first to the last non-zero digit of the text, possibly spanning the point; empty for zero.
        var significant: Range<Int>
        var exponent: Int
    }

    /// Why `text` is not a valid DynamoDB number, or nil when it is.
    static func validate(_ text: String) -> FieldProblem? {
        var text = text
        return text.withUTF8 { utf8 in
            if case .failure(let problem) = parse(utf8) { problem } else { nil }
        }
    }

    /// Appends the canonical form of `text`, identical for numerically equal numbers: `0` for zero, else the sign,
    /// the significant digits and the exponent (`+15E-1` for "1.50").
    static func appendCanonical(_ text: String, to out: inout [UInt8]) throws(FieldProblem) {
        var text = text
        let result: Result<Void, FieldProblem> = text.withUTF8 { utf8 in
            parse(utf8).map { parts in
                guard !parts.significant.isEmpty else {
                    out.append(UInt8(ascii: "0"))
                    return
                }
                out.append(parts.isNegative ? UInt8(ascii: "-") : UInt8(ascii: "+"))
                for byte in utf8[parts.significant] where byte != UInt8(ascii: ".") {
                    out.append(byte)
                }
                out.append(UInt8(ascii: "E"))
                out.append(contentsOf: String(parts.exponent).utf8)
            }
        }
        try result.get()
    }

    /// Splits `text` into its parts and checks DynamoDB's limits.
    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> Result<Parts, FieldProblem> {
        let end = text.count
        var i = 0
        var isNegative = false
        if i < end && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) {
            isNegative = text[i] == UInt8(ascii: "-")
            i += 1
        }
        var point: Int?
        var firstSignificant: Int?
        var lastSignificant = 0
        var digitCount = 0
        while i < end {
            let byte = text[i]
            if JSONReader.isDigit(byte) {
                digitCount += 1
                if byte != UInt8(ascii: "0") {
                    if firstSignificant == nil { firstSignificant = i }
                    lastSignificant = i
                }
            } else if byte == UInt8(ascii: "."), point == nil {
                point = i
            } else {
                break
            }
            i += 1
        }
        let mantissaEnd = i
        guard digitCount > 0 else { return .failure(.invalidNumber) }
        var explicitExponent = 0
        if i < end && (text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E")) {
            i += 1
            var exponentIsNegative = false
            if i < end && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) {
                exponentIsNegative = text[i] == UInt8(ascii: "-")
                i += 1
            }
            guard i < end && JSONReader.isDigit(text[i]) else { return .failure(.invalidNumber) }
            while i < end && JSONReader.isDigit(text[i]) {
                // Clamped far beyond the allowed range so that no exponent text can overflow Int.
                explicitExponent = min(explicitExponent * 10 + Int(text[i] - UInt8(ascii: "0")), 1_000_000_000)
                i += 1
            }
            if exponentIsNegative { explicitExponent = -explicitExponent }
        }
        guard i == end else { return .failure(.invalidNumber) }
        guard let firstSignificant else {
            return .success(Parts(isNegative: false, significant: 0..<0, exponent: 0))
        }
        let pointIndex = point ?? mantissaEnd
        let pointInside = firstSignificant < pointIndex && pointIndex < lastSignificant
        let significantDigits = lastSignificant - firstSignificant + 1 - (pointInside ? 1 : 0)
        let exponent =
            explicitExponent
            + (lastSignificant < pointIndex ? pointIndex - lastSignificant - 1 : pointIndex - lastSignificant)
        // The exponent of the leading digit in scientific notation is what DynamoDB's range limits apply to.
        let magnitude = exponent + significantDigits - 1
        if significantDigits > 38 { return .failure(.numberTooPrecise) }
        if magnitude > 125 { return .failure(.numberOverflow) }
        if magnitude < -130 { return .failure(.numberUnderflow) }
        return .success(
            Parts(isNegative: isNegative, significant: firstSignificant..<lastSignificant + 1, exponent: exponent)
        )
    }
}
