// Workspace B's console lists none of A's bots and answers 404 for A's bot's address.
const { signIn } = require("./steps");

module.exports = async function (page, args) {
  await signIn(page, args);
  const listed = await page.locator("main").innerText();
  const answer = await page.goto(`${args.base}/app/bots/${args.bot}`);
  return { listed, status: answer.status(), shown: await page.locator("main").innerText() };
};
