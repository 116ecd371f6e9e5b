import Foundation
import Proxy
import Testing

@Suite struct NamespaceTests {
    @Test func keyIdAndRegionFromTheCredentialScope() {
        let header =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
        #expect(Namespace(authorization: header).value == "AKIDEXAMPLE/eu-west-1")
        // The date is not part of it: entries survive midnight.
        let nextDay = header.replacingOccurrences(of: "20260101", with: "20260102")
        #expect(Namespace(authorization: nextDay) == Namespace(authorization: header))
        #expect(
            Namespace(authorization: header.replacingOccurrences(of: "AKIDEXAMPLE", with: "OTHER"))
                != Namespace(authorization: header))
        #expect(
            Namespace(authorization: header.replacingOccurrences(of: "eu-west-1", with: "us-east-1"))
                != Namespace(authorization: header))
    }

    @Test func unsignedAndOddHeaders() {
        #expect(Namespace(authorization: nil).value == "")
        #expect(Namespace(authorization: "Bearer token").value == "")
        #expect(Namespace(authorization: "AWS4-HMAC-SHA256 Credential=ONLYKEY, Signature=x").value == "ONLYKEY")
        #expect(Namespace(authorization: "Credential=").value == "")
    }
}
