// The page under test: the real SDKs from npm, each pointed at the proxy (window.PROXY, on
// another origin than the page, so CORS and preflights are real). It runs the steps a site
// runs (page view, identify with personal data, a tracked event) and leaves the unload to the
// driver (run.mjs), which navigates away so the SDKs' sendBeacon paths fire.
import { AnalyticsBrowser } from "@segment/analytics-next";
import mixpanel from "mixpanel-browser";
import posthog from "posthog-js";
import * as amplitude from "@amplitude/analytics-browser";
import { newTracker, trackPageView, trackSelfDescribingEvent } from "@snowplow/browser-tracker";
import Plausible from "plausible-tracker";

const proxy = window.PROXY;
const person = {
  email: "jane.doe@example.com",
  phone: "+1 415 555 0100",
  first_name: "Jane",
  last_name: "Doe",
};
const note = "Call me at +1 415 555 0100 or write to jane.doe@example.com";

window.sdkErrors = [];
const guard = (name, fn) => {
  try {
    return fn();
  } catch (e) {
    window.sdkErrors.push(`${name}: ${e}`);
  }
};

async function main() {
  // Segment: settings inline (no CDN), the proxy as the Segment.io destination's host.
  const segment = AnalyticsBrowser.load(
    {
      writeKey: "fake-segment-key",
      cdnSettings: {
        integrations: {
          "Segment.io": { apiKey: "fake-segment-key", apiHost: `${proxy.host}/segment/v1`, protocol: "http" },
        },
      },
    },
    { retryQueue: true },
  );
  window.segment = segment;
  await segment.page();
  await segment.identify("user-jane-doe-42", person);
  await segment.track("Checkout", { note, plan: "pro" });

  guard("mixpanel", () => {
    mixpanel.init("fake-mixpanel-token", {
      api_host: `${proxy.origin}/mixpanel`,
      batch_requests: true,
      batch_flush_interval_ms: 200,
      track_pageview: true,
      persistence: "localStorage",
    });
    mixpanel.identify("user-jane-doe-42");
    mixpanel.people.set({ $email: person.email, $phone: person.phone, $name: "Jane Doe" });
    mixpanel.track("Checkout", { note, plan: "pro" });
  });
  window.mixpanel = mixpanel;

  guard("posthog", () => {
    posthog.init("phc_fake_posthog_key", {
      api_host: `${proxy.origin}/posthog`,
      advanced_disable_decide: true,
      advanced_disable_flags: true,
      disable_session_recording: true,
      disable_surveys: true,
      autocapture: false,
      capture_pageview: true,
      persistence: "localStorage",
      request_batching: true,
      // Playwright's browser says navigator.webdriver; posthog-js takes that for a bot.
      opt_out_useragent_filter: true,
    });
    posthog.identify("user-jane-doe-42", person);
    posthog.capture("Checkout", { note, plan: "pro" });
  });
  window.posthog = posthog;

  guard("amplitude", () => {
    amplitude.init("fake-amplitude-key", "user-jane-doe-42", {
      serverUrl: `${proxy.origin}/amplitude/2/httpapi`,
      flushIntervalMillis: 200,
      fetchRemoteConfig: false,
      autocapture: { pageViews: true, sessions: false, formInteractions: false, fileDownloads: false },
    });
    const id = new amplitude.Identify();
    id.set("email", person.email).set("phone", person.phone);
    amplitude.identify(id);
    amplitude.track("Checkout", { note, plan: "pro" });
  });
  window.amplitude = amplitude;

  guard("snowplow", () => {
    newTracker("sp", `${proxy.origin}/snowplow`, {
      appId: "shop",
      eventMethod: "post",
      bufferSize: 1,
      contexts: { webPage: true },
    });
    trackPageView();
    trackSelfDescribingEvent({
      event: {
        schema: "iglu:com.example/checkout/jsonschema/1-0-0",
        data: { email: person.email, note, plan: "pro" },
      },
    });
  });

  guard("plausible", () => {
    const plausible = Plausible({ domain: "shop.example", apiHost: `${proxy.origin}/plausible`, trackLocalhost: true });
    window.plausibleDone = 0;
    const done = () => (window.plausibleDone += 1);
    plausible.trackPageview({}, { callback: done });
    plausible.trackEvent("Checkout", { callback: done, props: { plan: "pro" } });
  });

  window.pageReady = true;
}

main().catch((e) => window.sdkErrors.push(`main: ${e}`));
