// A form posted without its CSRF token is refused and changes nothing.
const { signIn } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.goto(`${args.base}/app/bots/${args.bot}`);
  await page.locator('form[action$="/run"] input[name="csrf_token"]').evaluate((input) => input.remove());
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/run")),
    page.getByRole("button", { name: "Run now" }).click(),
  ]);
  return { status: response.status(), shown: await page.locator("main").innerText() };
};
