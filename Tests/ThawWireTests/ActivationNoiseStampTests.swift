import Testing

@testable import ThawWire

/// The noise parameters in the hyper-parameter stamp: the grammar, round trips, and refusal of values
/// and stamps no deployment can produce.
@Suite struct ActivationNoiseStampTests {
    @Test func stampsWithoutNoiseParseAsBefore() {
        #expect(UploadRule(stamp: "ab12") == UploadRule())
        #expect(UploadRule(stamp: "ab12+int8") == UploadRule(encoding: .int8))
        #expect(UploadRule(stamp: "ab12+float16")?.noise == nil)
    }

    @Test func noiseRoundTripsThroughTheStampWithAndWithoutAnEncoding() throws {
        let noise = try ActivationNoise(clip: 4.5, sigma: 0.05)
        for encoding in ActivationEncoding.allCases {
            let rule = UploadRule(encoding: encoding, noise: noise)
            let stamp = rule.stamp(hash: "ab12")
            #expect(UploadRule(stamp: stamp) == rule)
            // The encoding still reads the same from a noised stamp (the worker's fence uses it).
            #expect(ActivationEncoding(stamp: stamp) == encoding)
        }
        #expect(UploadRule(encoding: .int8, noise: noise).stamp(hash: "ab12") == "ab12+int8+noise:4.5:0.05")
        #expect(UploadRule(noise: noise).stamp(hash: "ab12") == "ab12+noise:4.5:0.05")
    }

    @Test func differentParametersGiveDifferentStamps() throws {
        let stamps = try [(1.0, 0.0), (1.0, 0.1), (2.0, 0.1), (1.0, 0.2)].map {
            UploadRule(noise: try ActivationNoise(clip: $0.0, sigma: $0.1)).stamp(hash: "ab12")
        }
        #expect(Set(stamps).count == stamps.count)
        #expect(!stamps.contains("ab12"))
    }

    @Test(arguments: [
        "ab12+noise:1.0", "ab12+noise:1.0:0.1:3", "ab12+noise:0:0.1", "ab12+noise:1.0:-0.1", "ab12+noise:nan:0.1",
        "ab12+noise:1.0:inf", "ab12+noise:x:0.1", "ab12+noise:1.0:0.1+int8", "ab12+int8+int8",
        "ab12+noise:1.0:0.1+noise:1.0:0.1", "ab12+float32+noise:1.0:0.1", "ab12+noise:1.0:5000", "ab12+",
    ])
    func malformedOrOutOfRangeStampsNameNoRule(_ stamp: String) {
        #expect(UploadRule(stamp: stamp) == nil)
        #expect(ActivationEncoding(stamp: stamp) == nil)
    }

    @Test func badParametersAreRefusedWithTheirName() {
        for (clip, sigma, named) in [
            (0.0, 0.1, "clip"), (-1.0, 0.1, "clip"), (Double.nan, 0.1, "clip"), (2e6, 0.1, "clip"),
            (1.0, -0.5, "sigma"), (1.0, .infinity, "sigma"), (1.0, 1001, "sigma"),
        ] {
            let error = #expect(throws: WireError.self) { try ActivationNoise(clip: clip, sigma: sigma) }
            #expect(error?.code == .invalidField)
            #expect(error?.context.contains(named) == true, "\(error?.context ?? "")")
        }
        #expect((try? ActivationNoise(clip: 1, sigma: 0)) != nil, "clipping alone is allowed")
    }
}
