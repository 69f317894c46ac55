// Describe a bot, answer the assistant's question, watch validation pass, accept, run it.
const { signIn, shot } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  await page.getByRole("link", { name: "Builder" }).click();
  await page.getByLabel("Describe the bot you want").fill(args.description);
  await shot(page, args, "builder-start");
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/app\/builder\/[0-9a-f-]{36}$/);
  const question = page.locator("fieldset legend").first();
  const asked = await question.innerText();
  await page.locator("fieldset input[type=text]").first().fill(args.answer);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.getByRole("button", { name: "Generate and validate" }).click();
  // The page follows the build's events (or polls its panel) while the worker builds.
  await page.getByText("validation passed").waitFor({ timeout: 45000 });
  const tests = await page.getByTestId("tests").innerText();
  const steps = await page.getByTestId("steps").locator("li").allInnerTexts();
  await shot(page, args, "builder");
  await page.getByLabel("Bot name").fill(args.name);
  await page.getByRole("button", { name: "Accept and create the bot" }).click();
  await page.waitForURL(/\/app\/bots\/[0-9a-f-]{36}$/);
  const botUrl = page.url();
  await page.getByLabel("Input (a JSON object: the event the bot gets)").fill('{"note": "from the console"}');
  await page.getByRole("button", { name: "Run now" }).click();
  await page.locator("#bot-runs .badge.succeeded, #bot-runs .badge.failed, #bot-runs .badge.error, #bot-runs .badge.timeout")
    .first().waitFor({ timeout: 30000 });
  const status = await page.locator("#bot-runs tbody tr").first().locator(".badge").innerText();
  await page.getByTestId("suggestions").waitFor().catch(() => null);
  await shot(page, args, "bot");
  return { asked, tests, steps, botUrl, status };
};
