//! Signing and form encoding, delegated to `openclaw-twilio` so the simulator and the gateway
//! share one implementation of Twilio's algorithm (the simulator never reimplements it).

use openclaw_twilio::form::Form;
use openclaw_twilio::signature;
use secrecy::SecretString;

/// The `X-Twilio-Signature` for a request to `url` with form `params` (empty for GET): what
/// Twilio sends, HMAC-SHA1 keyed with the account's primary Auth Token.
pub(crate) fn signature(
    url: &str,
    params: &[(String, String)],
    auth_token: &SecretString,
) -> String {
    signature::compute(url, params, auth_token)
}

/// `application/x-www-form-urlencoded`, in order, space as `+`: the exact pairs that were
/// signed.
pub(crate) fn encode_form(params: &[(String, String)]) -> String {
    Form::from_pairs(params.to_vec()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's published example (twilio-python / twilio-node test suites, Twilio's security
    /// docs): token `12345`, this URL and these parameters sign to `RSOYDt4T1cUTdK1PDd93/VVr8B8=`.
    #[test]
    fn reproduces_twilio_published_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let sig = signature(
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
            &SecretString::from("12345"),
        );
        assert_eq!(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }
}
