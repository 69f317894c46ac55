// Watch a run on its page until it ends (the page polls its live part), then read the logs
// and the result; screenshots of the run's page on a desktop and on a phone, and of the list.
const { signIn, shot } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.goto(`${args.base}/app/runs/${args.run_id}`);
  const seen = [await page.getByTestId("run-status").innerText()];
  await page.getByTestId("run-status").filter({ hasText: /Succeeded|Failed|Timed out|Cancelled/ })
    .waitFor({ timeout: 25000 });
  seen.push(await page.getByTestId("run-status").innerText());
  const shown = {
    statuses: seen,
    logs: await page.getByTestId("run-logs").innerText(),
    result: await page.getByTestId("run-result").innerText(),
  };
  await shot(page, args, "run");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, args, "run-phone", { fullPage: false });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${args.base}/app/runs`);
  await page.getByTestId("runs").waitFor();
  await shot(page, args, "runs");
  return shown;
};
