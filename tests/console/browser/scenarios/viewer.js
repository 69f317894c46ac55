// A viewer is offered no write action; a write it forges anyway is refused.
const { signIn } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  const nav = await page.getByRole("navigation", { name: "Main" }).innerText();
  await page.goto(`${args.base}/app/bots/${args.bot}`);
  const buttons = await page.getByRole("button").allInnerTexts();
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  const forged = await page.evaluate(async ({ url, csrf }) => {
    const body = new URLSearchParams({ csrf_token: csrf, input: "{}" });
    const answer = await fetch(url, { method: "POST", body });
    return answer.status;
  }, { url: `${args.base}/app/bots/${args.bot}/run`, csrf });
  return { nav, buttons, forged };
};
