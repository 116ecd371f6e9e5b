import LoadGenerator
import Testing

/// The staleness workload's arithmetic, on made-up writes and reads (milliseconds as nanoseconds).
@Suite struct StalenessTests {
    private func ms(_ value: UInt64) -> UInt64 { value * 1_000_000 }

    @Test func propagationIsFromAcknowledgementToTheFirstAnswerWithThatWriteOrANewerOne() {
        let writes = [
            StalenessRunner.Write(key: 1, version: 10, acknowledged: ms(1_000)),
            StalenessRunner.Write(key: 1, version: 11, acknowledged: ms(1_100)),
            StalenessRunner.Write(key: 2, version: 20, acknowledged: ms(1_000)),
        ]
        let reads = [
            StalenessRunner.Read(key: 1, began: ms(990), ended: ms(1_010), version: 9),  // old, but began before
            StalenessRunner.Read(key: 1, began: ms(1_200), ended: ms(1_250), version: 11),  // both writes seen
            StalenessRunner.Read(key: 2, began: ms(1_300), ended: ms(1_400), version: 20),
        ]
        let result = StalenessRunner.result(target: "n", writes: writes, reads: reads, errors: 0, bound: ms(1_000))
        #expect(result.writes == 3)
        #expect(result.writesSeen == 3)
        #expect(result.propagationP50 == 250)
        #expect(result.propagationMax == 400)
        #expect(result.staleReads == 0)
    }

    @Test func aReadOlderThanAWriteAcknowledgedMoreThanTheBoundBeforeItIsStale() {
        let writes = [StalenessRunner.Write(key: 1, version: 10, acknowledged: ms(1_000))]
        let reads = [
            StalenessRunner.Read(key: 1, began: ms(1_900), ended: ms(1_950), version: 9),  // within the bound
            StalenessRunner.Read(key: 1, began: ms(2_100), ended: ms(2_150), version: 9),  // stale
        ]
        let result = StalenessRunner.result(target: "n", writes: writes, reads: reads, errors: 0, bound: ms(1_000))
        #expect(result.staleReads == 1)
        #expect(result.writesSeen == 0)
        #expect(result.propagationP50 == nil)
    }

    @Test func theVersionIsReadFromEitherSpelling() {
        #expect(StalenessRunner.version(in: #"{"Item":{"pk":{"S":"k1"},"v":{"N":"42"}}}"#) == 42)
        #expect(StalenessRunner.version(in: #"{"Item": {"pk": {"S": "k1"}, "v": {"N": "43"}}}"#) == 43)
        #expect(StalenessRunner.version(in: "{}") == 0)
    }
}
